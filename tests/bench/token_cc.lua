-- wrk: client_credentials issuance with client_secret_basic
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("CID_BASIC")
wrk.body = "grant_type=client_credentials&scope=city"
