#!/usr/bin/env bash
# bench/ab.sh A B: two baton builds side by side on the fast lane, to see what a change does.
#
# ROLE=gateway (default): one nats-server, one worker (this checkout's release build), gateway A
# and gateway B up together. ROLE=worker: two whole stacks, each its own nats-server and a
# gateway of this checkout's release build, one with worker A and one with worker B (a worker
# change shows in the worker's CPU a call; two workers on one subject would share its requests).
# F (64 connections, echo-fast; SERVICE=echo for D; SCRIPT=bench/async.lua with SERVICE=echo for
# respond-async accepts, which the shared worker then runs) runs in SLICE-second slices taking turns in
# ABBA order, CYCLES times. Prints each side's rate and the gateway's, worker's and nats-server's CPU per call
# (/proc), the median of its slices' p50s (with CONNS=1: what a change does to a lone call's
# latency), and B / A. Everything runs in this script's session: the kernel shares CPU between
# sessions first (autogroups), so a rig whose servers and load generators sit in different
# sessions measures something else (bench/NOTES.md).
#
# Run it with the same binary twice first: two identical gateways read 0.93–1.07x of each other
# in 12–24 slices on a 2-core box, so a change worth less than that needs several runs.
#   bench/ab.sh .build/release/baton /tmp/baton-variant      CYCLES=10 SLICE=2 by default
#   ROLE=worker bench/ab.sh .build/release/baton /tmp/baton-variant
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
if [[ $# -ne 2 || ! -x $1 || ! -x $2 ]]; then
  echo "usage: [ROLE=gateway|worker] bench/ab.sh A_BINARY B_BINARY (or make bench-ab A=... B=... [ROLE=worker]): two baton binaries" >&2
  exit 2
fi
A=$(realpath "$1"); B=$(realpath "$2")
CYCLES=${CYCLES:-10}; SLICE=${SLICE:-2}; CONNS=${CONNS:-64}; ROLE=${ROLE:-gateway}; SERVICE=${SERVICE:-echo-fast}
SCRIPT=${SCRIPT:-bench/post.lua}
WRK_THREADS=$(( CONNS < 2 ? 1 : 2 ))   # wrk needs a connection per thread
[[ $ROLE == gateway || $ROLE == worker ]] || { echo "ROLE is gateway or worker, not $ROLE" >&2; exit 2; }

swift build -c release --product baton >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d /tmp/baton-ab.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

declare -A PORT GATEWAY WORKER SERVER REQ SEC CPU_G CPU_W CPU_N P50
start_worker() {  # $1 = binary, $2 = name
  "$1" worker --nats-url "$NATS" --services echo,echo-fast --concurrency 256 --metrics-port 0 --log-level warning \
    >"$WORK/worker-$2.log" 2>&1 & LAST_PID=$!; PIDS+=($LAST_PID)
}
if [[ $ROLE == gateway ]]; then
  start_nats shared; SERVER[A]=$NATS_PID; SERVER[B]=$NATS_PID
  start_worker "$BIN/baton" shared; WORKER[A]=$LAST_PID; WORKER[B]=$LAST_PID
fi
for side in A B; do
  gateway=${!side}
  if [[ $ROLE == worker ]]; then
    start_nats "$side"; SERVER[$side]=$NATS_PID
    start_worker "${!side}" "$side"; WORKER[$side]=$LAST_PID
    gateway=$BIN/baton
  fi
  PORT[$side]=$(free_port)
  "$gateway" gateway --nats-url "$NATS" --port "${PORT[$side]}" --host 127.0.0.1 --log-level warning \
    >"$WORK/gateway-$side.log" 2>&1 & GATEWAY[$side]=$!; PIDS+=(${GATEWAY[$side]})
done
url() { echo "http://127.0.0.1:${PORT[$1]}/v1/jobs/$SERVICE"; }
for side in A B; do
  for _ in $(seq 100); do [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$(url $side)") == 200 ]] && break; sleep 0.1; done
  wrk -t$WRK_THREADS -c"$CONNS" -d2s -s "$SCRIPT" "$(url $side)" >/dev/null   # warm-up
done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user + system, clock ticks
slice() {  # $1 = side: one slice, its requests and each process's ticks added to the side's sums
  local side=$1 g w n requests seconds p50
  g=$(cpu "${GATEWAY[$side]}"); w=$(cpu "${WORKER[$side]}"); n=$(cpu "${SERVER[$side]}")
  wrk --latency -t$WRK_THREADS -c"$CONNS" -d"${SLICE}s" -s "$SCRIPT" "$(url "$side")" > "$WORK/wrk.txt"
  read -r requests seconds p50 _ < <(python3 bench/slices.py wrk "$WORK/wrk.txt")
  P50[$side]+=" $p50"
  REQ[$side]=$(( ${REQ[$side]:-0} + requests )); SEC[$side]=$(python3 -c "print(${SEC[$side]:-0} + $seconds)")
  CPU_G[$side]=$(( ${CPU_G[$side]:-0} + $(cpu "${GATEWAY[$side]}") - g ))
  CPU_W[$side]=$(( ${CPU_W[$side]:-0} + $(cpu "${WORKER[$side]}") - w ))
  CPU_N[$side]=$(( ${CPU_N[$side]:-0} + $(cpu "${SERVER[$side]}") - n ))
  printf '%s %.0f  ' "$side" "$(python3 -c "print($requests / $seconds)")"
}
for cycle in $(seq "$CYCLES"); do
  if (( cycle % 2 )); then slice A; slice B; else slice B; slice A; fi
done
echo
TICK=$(getconf CLK_TCK)
for side in A B; do
  python3 -c "
r, s, t = ${REQ[$side]}, ${SEC[$side]}, $TICK
us = lambda ticks: ticks / t * 1e6 / r
import statistics
p50 = statistics.median(float(x) for x in '${P50[$side]}'.split())
print(f'$side ($ROLE {\"${!side}\"}): {r / s:.0f} req/s, p50 {p50:.3f} ms (median of the slices); CPU a call: gateway {us(${CPU_G[$side]}):.1f} µs, worker {us(${CPU_W[$side]}):.1f}, nats-server {us(${CPU_N[$side]}):.1f}')"
done
python3 -c "print(f'B / A: {(${REQ[B]} / ${SEC[B]}) / (${REQ[A]} / ${SEC[A]}):.3f}')"
