-- Prefer: respond-async submits; counts answers that are not 202.
wrk.method = "POST"
wrk.body = "hello baton"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["Prefer"] = "respond-async"

local threads = {}
function setup(thread) table.insert(threads, thread) end

bad = 0  -- global: read per thread in done()
function response(status, headers, body)
  if status ~= 202 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (thread:get("bad") or 0) end
  io.write(string.format("bad_responses=%d\n", total))
end
