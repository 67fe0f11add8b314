-- wrk: client_credentials issuance with client_secret_basic (CID_BASIC); the
-- form is CID_CC_BODY (node-oidc-provider needs a resource parameter)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("CID_BASIC")
wrk.body = os.getenv("CID_CC_BODY") or "grant_type=client_credentials&scope=city"
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
