#!/usr/bin/env bash
# Webhook delivery latency (job end → receiver) and throughput, measured with the example
# receiver (examples/webhook-receiver.py): `baton dev` (release) with a known secret, N async
# echo jobs with a Callback-Url one at a time (latency), then a burst (throughput).
# `baton dev` starts scripts/nats-server.sh's nats-server (BATON_NATS_SERVER, else .tools/nats).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
N=${N:-500}          # latency phase: jobs one at a time
BURST=${BURST:-3}     # throughput phase: seconds of wrk submits

command -v wrk >/dev/null || { apt-get install -y -q wrk || sudo apt-get install -y -q wrk; }
COMMIT=$(bench_commit)
swift build -c release --product baton >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/baton-webhooks.XXXXXX)
# baton dev runs the nats-server named by BATON_NATS_SERVER, or the first nats-server on PATH: both
# point at the chosen one (a directory of its own on PATH, not .tools/nats/bin with its python3).
NATS_SERVER=$(bench_nats_server)
export BATON_NATS_SERVER=$NATS_SERVER
mkdir "$WORK/bin" && ln -s "$NATS_SERVER" "$WORK/bin/nats-server"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

SECRET=whsec_$(head -c 32 /dev/urandom | base64)
PORT=$(free_port); HOOK_PORT=$(free_port)
PATH="$WORK/bin:$PATH" "$BIN/baton" dev --port "$PORT" --nats-port 0 --webhook-secret "$SECRET" --log-level warning >"$WORK/dev.log" 2>&1 & DEV=$!; PIDS+=($DEV)
python3 examples/webhook-receiver.py --secret "$SECRET" --port "$HOOK_PORT" --quiet --record "$WORK/deliveries.jsonl" >"$WORK/receiver.log" 2>&1 & PIDS+=($!)
G=http://127.0.0.1:$PORT
for _ in $(seq 200); do [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST $G/v1/jobs/echo -d x)" = 200 ] && break; sleep 0.1; done
: > "$WORK/deliveries.jsonl"
# The nats-server baton dev really started (its child), and the commit measured.
RUNNING=$(for pid in $(pgrep -P "$DEV" -x nats-server || true); do readlink -f "/proc/$pid/exe"; done | head -1)
echo "== commit $COMMIT, nats-server $(bench_version "${RUNNING:-$NATS_SERVER}") (${RUNNING:-not seen running; chosen: $NATS_SERVER})"

summarise() {  # $1 = what
python3 - "$WORK/deliveries.jsonl" "$1" <<'PY'
import json, sys, datetime
rows = [json.loads(line) for line in open(sys.argv[1])]
def ts(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
lat = sorted((r["received"] - ts(r["finishedAt"])) * 1000 for r in rows)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
span = max(r["received"] for r in rows) - min(r["received"] for r in rows)
print(f"   {len(rows)} deliveries, {len({r['id'] for r in rows})} distinct jobs")
if sys.argv[2] == "latency":
    print(f"   latency job end → receiver: p50 {q(0.5):.1f} ms, p90 {q(0.9):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]:.1f} ms")
else:
    print(f"   throughput: {len(rows) / span if span > 0 else float('nan'):.0f} deliveries/s (first to last delivery)")
PY
}
wait_for() { for _ in $(seq 1200); do [ "$(wc -l < "$WORK/deliveries.jsonl")" -ge "$1" ] && return 0; sleep 0.1; done; echo "   only $(wc -l < "$WORK/deliveries.jsonl") of $1 delivered"; }

echo "== latency: $N async echo jobs with Callback-Url, one at a time"
for i in $(seq "$N"); do
  curl -s -o /dev/null "$G/v1/jobs/echo" -H 'Prefer: respond-async' -H "Callback-Url: http://127.0.0.1:$HOOK_PORT/hook" -d "job $i"
done
wait_for "$N"
summarise latency

echo "== throughput: a ${BURST}s burst of async submits with Callback-Url (wrk, 32 connections)"
: > "$WORK/deliveries.jsonl"
ACCEPTED=$(CALLBACK_URL="http://127.0.0.1:$HOOK_PORT/hook" wrk -t2 -c32 -d"${BURST}s" -s bench/callback.lua "$G/v1/jobs/echo" | grep -o 'accepted=[0-9]*' | cut -d= -f2)
echo "   accepted: $ACCEPTED"
wait_for "$ACCEPTED"
summarise throughput
