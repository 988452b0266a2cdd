#!/usr/bin/env bash
# bench/held.sh [GATEWAY_BINARY]: phase W alone — 10,000 held durable calls (`slow`, 5 s, one a
# connection) on a fresh gateway; prints how many were answered right and the gateway's peak
# resident set. What a held call costs in memory, without the rest of `make bench` (~1 minute).
# The worker is this checkout's release build; the gateway too unless a binary is given.
#   bench/held.sh                       bench/held.sh /tmp/baton-variant
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
HELD=${HELD:-10000}
WORK=$(mktemp -d /tmp/baton-held.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
swift build -c release --product baton > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
BIN=$(swift build -c release --show-bin-path)/baton
GATEWAY=$(realpath "${1:-$BIN}")
start_nats held
http=$(free_port)
"$BIN" worker --nats-url "$NATS" --services echo,slow --concurrency $((HELD + 1000)) --max-queued 0 \
  --metrics-port 0 --log-level warning > "$WORK/worker.log" 2>&1 & PIDS+=($!)
"$GATEWAY" gateway --nats-url "$NATS" --port "$http" --host 127.0.0.1 --max-queued 0 --log-level warning \
  > "$WORK/gateway.log" 2>&1 & GPID=$!; PIDS+=($GPID)
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$http/v1/jobs/echo") == 200 ]] && break
  sleep 0.1
done
ulimit -n "$(ulimit -Hn)" || true
wrk -t2 -c"$HELD" -d12s --timeout 30s -s bench/held.lua "http://127.0.0.1:$http/v1/jobs/slow" -- $((HELD / 2)) > "$WORK/wrk.txt" 2>&1
echo "$GATEWAY: $(grep -o 'held_ok=[0-9]*' "$WORK/wrk.txt") $(grep -o 'held_bad=[0-9]*' "$WORK/wrk.txt")" \
  "gateway peak RSS $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$GPID/status") MB"
