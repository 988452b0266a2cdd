-- POST a small text body (echo-shaped) on every request.
wrk.method = "POST"
wrk.body = "hello baton"
wrk.headers["Content-Type"] = "text/plain"
