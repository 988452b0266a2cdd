#!/usr/bin/env bash
# bench/tails.sh: D·½ against RD·½ (32 paced connections, ~1,500 calls a second, 8 s each, in
# D RD RD D D RD order) on a store grown in steps: each step runs 20 s of respond-async accepts,
# of D and of RD at 64 connections, then waits until the queues are empty. Prints the store's
# size and each run's rate and p99. Whether the durable lane's tail grows with the store, and
# whether it does more than the bare design's (bench/NOTES.md, 2026-12-07 afternoon). ~8 minutes.
#   bench/tails.sh               STEPS=3 GROW=20 SECS=8 DELAY=19 (ms between a connection's calls)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
STEPS=${STEPS:-3}; GROW=${GROW:-20}; SECS=${SECS:-8}; DELAY=${DELAY:-19}
WORK=$(mktemp -d /tmp/baton-tails.XXXXXX); PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
swift build -c release > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
BIN=$(swift build -c release --show-bin-path)
start_nats tails
"$BIN/baton" worker --nats-url "$NATS" --services echo --concurrency 256 --max-queued 0 --metrics-port 0 --log-level error & PIDS+=($!)
gp=$(free_port); "$BIN/baton" gateway --nats-url "$NATS" --port "$gp" --host 127.0.0.1 --max-queued 0 --log-level error & PIDS+=($!)
rp=$(free_port); "$BIN/baton-bench" hello --port "$rp" --nats-url "$NATS" 2>/dev/null & PIDS+=($!)
"$BIN/baton-bench" js-worker --nats-url "$NATS" --name echo --concurrency 256 2>/dev/null & PIDS+=($!)
D=http://127.0.0.1:$gp/v1/jobs/echo; RD=http://127.0.0.1:$rp/relay-jobs/echo
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$D") == 200 ]] && curl -sf -X POST -d x "$RD" >/dev/null && break
  sleep 0.1
done
settle() { curl -sf -o /dev/null "$NATS_PROF/debug/pprof/heap?gc=1" || true; }   # as make bench
paced() {
  settle
  DELAY_MS=$DELAY wrk --latency -t2 -c32 -d"${SECS}s" -s bench/paced.lua "$1" > "$WORK/wrk.txt"
  python3 bench/slices.py summary "$WORK/wrk.txt" | awk '{printf "%s calls/s, p99 %s ms", $1, $3}'
}
jsz() { curl -s "$NATS_MON/jsz?streams=true"; }
stored() { jsz | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f M messages, %.0f MB" % (d["messages"]/1e6, d["bytes"]/1e6))'; }
queued() {
  jsz | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(s["state"]["messages"] for a in d.get("account_details", [])
    for s in a.get("stream_detail", []) if s["name"] in ("BATON_JOBS", "BENCH_JOBS")))'
}
for step in $(seq 0 "$STEPS"); do
  if (( step > 0 )); then
    wrk -t2 -c64 -d"${GROW}s" -s bench/async.lua "$D" >/dev/null
    wrk -t2 -c64 -d"${GROW}s" -s bench/post.lua "$D" >/dev/null
    wrk -t2 -c64 -d"${GROW}s" -s bench/post.lua "$RD" >/dev/null
    for _ in $(seq 300); do [[ $(queued) == 0 ]] && break; sleep 1; done   # the accepted jobs run
  fi
  echo "== step $step: $(stored) stored, $(queued) queued"
  for lane in D RD RD D D RD; do
    url=$D; [[ $lane == RD ]] && url=$RD
    echo "   $lane·½: $(paced "$url")"
  done
done
