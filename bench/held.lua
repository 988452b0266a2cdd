-- W: every connection holds one sync call on `slow` and checks the answer.
-- One call per connection: run it as `wrk -t T -c C ... -s held.lua URL -- C/T` (a thread's
-- connections); delay() lets each connection's first request go at once and holds any later
-- one back past the phase, so held_ok counts the held calls answered 200 with the right body
-- (at most C), not second rounds of connections answered early.
wrk.method = "POST"
wrk.body = '{"ms": 5000}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread) table.insert(threads, thread) end

local per_thread, started = math.huge, 0
function init(args) per_thread = tonumber(args[1]) or math.huge end

function delay()
  started = started + 1
  if started <= per_thread then return 0 end
  return 3600 * 1000
end

ok, bad = 0, 0  -- globals: read per thread in done()
function response(status, headers, body)
  if status == 200 and body == '{"slept_ms":5000}' then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, thread in ipairs(threads) do o = o + (thread:get("ok") or 0); b = b + (thread:get("bad") or 0) end
  io.write(string.format("held_ok=%d held_bad=%d\n", o, b))
end
