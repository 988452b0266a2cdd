-- W: every connection holds a sync call on `slow` and checks the answer.
wrk.method = "POST"
wrk.body = '{"ms": 5000}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread) table.insert(threads, thread) end

ok, bad = 0, 0  -- globals: read per thread in done()
function response(status, headers, body)
  if status == 200 and body == '{"slept_ms":5000}' then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, thread in ipairs(threads) do o = o + (thread:get("ok") or 0); b = b + (thread:get("bad") or 0) end
  io.write(string.format("held_ok=%d held_bad=%d\n", o, b))
end
