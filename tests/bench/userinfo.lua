-- wrk: userinfo with a bearer access token
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CID_TOKEN")
