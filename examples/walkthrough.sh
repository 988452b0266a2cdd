#!/usr/bin/env bash
# The README walkthrough against a running `baton dev` (make run). BASE defaults to :8080.
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8080}

echo "== 1. sync: the answer on the same connection"
curl -si "$BASE/v1/jobs/echo" -H 'Content-Type: text/plain' -d 'hello baton'; echo

echo "== 2. the wait elapses: 202 + Location, then poll"
location=$(curl -si "$BASE/v1/jobs/slow" -H 'Prefer: wait=1' -d '{"ms": 3000, "steps": 3}' \
  | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
echo "Location: $location"
curl -s "$BASE$location"; echo
sleep 3
curl -si "$BASE$location/result"; echo

echo "== 3. respond-async: 202 at once"
curl -si "$BASE/v1/jobs/slow" -H 'Prefer: respond-async' -d '{"ms": 500}'; echo

echo "== 4. a failing job keeps its status"
curl -si "$BASE/v1/jobs/fail" -d '{"status": 422, "message": "not today"}'; echo

async_location() {  # POST with respond-async, print the Location
  curl -si "$BASE/v1/jobs/$1" -H 'Prefer: respond-async' "${@:2}" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}'
}

echo "== 6. long-poll: the result as soon as the job ends"
location=$(async_location slow -d '{"ms": 1500}')
time curl -si "$BASE$location/result" -H 'Prefer: wait=30'; echo

echo "== 7. server-sent events: state, progress, done"
location=$(async_location slow -d '{"ms": 1500, "steps": 3}')
curl -sN "$BASE$location/events"

echo "== 8. cancel a running job"
location=$(async_location slow -d '{"ms": 10000, "steps": 10}')
sleep 1
curl -si -X DELETE "$BASE$location"; echo
curl -si "$BASE$location/result"; echo

echo "== 9. webhooks"
if [ -n "${BATON_WEBHOOK_SECRET:-}" ]; then
  python3 "$(dirname "$0")/webhook-receiver.py" --port 9090 & receiver=$!
  sleep 0.5
  async_location slow -H 'Callback-Url: http://127.0.0.1:9090/hook' -d '{"ms": 500}' >/dev/null
  sleep 2
  kill $receiver
else
  echo "(set BATON_WEBHOOK_SECRET to the whsec_ secret that baton dev printed, or start both with the same one)"
fi

echo "== 10. idempotency"
key="walkthrough-$RANDOM"
curl -si "$BASE/v1/jobs/echo" -H "Idempotency-Key: $key" -d 'charge 10' | grep -i -E '^(HTTP|baton-job-id|idempotent)'
curl -si "$BASE/v1/jobs/echo" -H "Idempotency-Key: $key" -d 'charge 10' | grep -i -E '^(HTTP|baton-job-id|idempotent)'
curl -si "$BASE/v1/jobs/echo" -H "Idempotency-Key: $key" -d 'charge 99'; echo

echo "== 11. retries and dead letters"
curl -si "$BASE/v1/jobs/flaky" -H 'Prefer: wait=30' -d '{"failures": 2}'; echo
curl -s "$BASE/v1/dead-letters"; echo
