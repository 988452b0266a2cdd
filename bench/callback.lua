-- Prefer: respond-async submits with a Callback-Url ($CALLBACK_URL); counts 202s.
wrk.method = "POST"
wrk.body = "hello hook"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["Prefer"] = "respond-async"
wrk.headers["Callback-Url"] = os.getenv("CALLBACK_URL")

local threads = {}
function setup(thread) table.insert(threads, thread) end

accepted = 0  -- global: read per thread in done()
function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (thread:get("accepted") or 0) end
  io.write(string.format("accepted=%d\n", total))
end
