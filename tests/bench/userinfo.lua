-- wrk: userinfo with a bearer access token (CID_TOKEN)
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CID_TOKEN")
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
