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
