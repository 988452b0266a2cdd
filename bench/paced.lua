-- A paced (rate-limited) load: each connection waits DELAY_MS between requests, so the total
-- rate is connections * 1000 / DELAY_MS whatever the latency (set DELAY_MS in the environment).
wrk.method = "POST"
wrk.body = "hello baton"
wrk.headers["Content-Type"] = "text/plain"
local delay_ms = tonumber(os.getenv("DELAY_MS") or "10")
function delay() return delay_ms end
