-- wrk: introspection of a citizen's access token (CID_TOKEN) by the service
-- it was issued to, with client_secret_basic (CID_BASIC)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("CID_BASIC")
wrk.body = "token=" .. os.getenv("CID_TOKEN")
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
