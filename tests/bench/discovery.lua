-- wrk: GET of the URL given (the discovery document), with the summary line
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
