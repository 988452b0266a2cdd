#!/usr/bin/env bash
# make bench: every phase side by side on this machine, same connections and duration.
# Writes bench/results/<date>.md and .png and prints the ratios. See README "Performance".
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh

DURATION=${DURATION:-10}        # seconds per throughput phase
ROUNDS=${ROUNDS:-3}             # rounds of the phases the ratios come from; the report takes medians
SLICES=${SLICES:-4}             # slices of each throughput phase in a round, interleaved (throughput_round)
CONNS=${CONNS:-64}              # connections (H, F, D, A) = requests in flight (N)
HELD=${HELD:-10000}             # W: concurrent held sync calls
THREADS=${THREADS:-2}           # wrk threads
WARMUP=${WARMUP:-3}             # seconds each pipeline runs unrecorded before round 1

./scripts/install-deps.sh
NATS_SERVER=$(bench_nats_server)     # BATON_NATS_SERVER, else the current release (.tools/nats)
echo "== nats-server $(bench_version "$NATS_SERVER") ($NATS_SERVER)"
command -v wrk >/dev/null || { apt-get install -y -q wrk || sudo apt-get install -y -q wrk; }
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q matplotlib

echo "== building (release)"
COMMIT=$(bench_commit)               # before the build: what it builds
swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)

WORK=$(mktemp -d /tmp/baton-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1"; exit 1; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Its monitoring port (/varz, /jsz) gives the server's own counts of D; its pprof port lets
# `settle` force the server's garbage collection.
start_nats main
MON=$NATS_MON PROF=$NATS_PROF

# What nats-server counted over one phase, per job the phase completed (its 2xx answers):
# js_phase NAME MONITOR_URL WRK_ARGS...  records NAME from wrk, then R[js_NAME] = bench/jsz.py's
# token (api = JetStream API requests, writes = stored messages, acks, in_msgs, per stream).
js_phase() {
  local name=$1 mon=$2; shift 2
  python3 bench/jsz.py snap "$mon" > "$WORK/js-$name-before.json"
  record "$name" "$(wrk_run "$@")"
  js_count "$name" "$mon"
}
# js_count NAME MONITOR_URL: R[js_NAME] from the snapshot taken before the wrk run that
# $WORK/last-wrk.txt holds and one taken now, per job that run answered 2xx.
js_count() {
  local name=$1 mon=$2 requests non2xx
  python3 bench/jsz.py snap "$mon" > "$WORK/js-$name-after.json"   # once jobs in flight have ended
  read -r requests _ _ _ non2xx _ < <(python3 bench/slices.py wrk "$WORK/last-wrk.txt")
  R[js_$name]=$(python3 bench/jsz.py delta "$WORK/js-$name-before.json" "$WORK/js-$name-after.json" "$(( requests - non2xx ))")
  echo "   nats-server per $name job: ${R[js_$name]}"
}

# Every measured phase starts with a full garbage collection of nats-server (pprof's heap
# profile with gc=1 runs one; ~30 ms on a grown store), so that no phase pays for the garbage of
# the phase before it. Without it, a burst into JetStream (D, RD, A's drain) left the Go heap
# due for a collection that marked the stored index for seconds in whichever phase came next:
# on a rig, twelve 2 s F phases after 20 s of D read 16,834–23,845 req/s (six below 19,000,
# the gateway's CPU per call 58–63 µs against 43–50) and 22,933–24,325 (none below) after a
# forced collection. F runs after N, and after A's drain in rounds 2 and 3; R runs after F.
settle() { curl -sf -o /dev/null "$PROF/debug/pprof/heap?gc=1" || true; }

# wrk output → "rps p50_ms p99_ms non2xx errors" (bench/slices.py reads it)
wrk_run() {
  settle
  wrk --latency "$@" > "$WORK/last-wrk.txt"
  python3 bench/slices.py summary "$WORK/last-wrk.txt"
}

declare -A R
# Every measurement also goes to $WORK/results ("NAME rps p50 p99 non2xx errors"; a round's
# phases are NAME.<round>), which bench/report.py reads.
record() { R[$1]="$2"; echo "$1 $2" >> "$WORK/results"; echo "   $1: $2"; }

# H's bare server, R's and RD's relay and RD's bare JetStream worker stay up for all rounds
# (idle between their phases).
HPORT=$(free_port)
"$BIN/baton-bench" hello --port "$HPORT" & PIDS+=($!)
HELLO=http://127.0.0.1:$HPORT/hello                       # H
wait_http "$HELLO"
RPORT=$(free_port)
"$BIN/baton-bench" hello --port "$RPORT" --nats-url "$NATS" & RELAY_PID=$!; PIDS+=($RELAY_PID)
wait_http "http://127.0.0.1:$RPORT/hello"
RELAY=http://127.0.0.1:$RPORT/relay/baton.svc.echo-fast   # R: the worker's fast lane, no gateway
RELAY_JOBS=http://127.0.0.1:$RPORT/relay-jobs/echo        # RD: the bare durable pipeline
RELAY_ACCEPT=http://127.0.0.1:$RPORT/relay-accept/echo    # RA: a bare respond-async accept
"$BIN/baton-bench" js-worker --nats-url "$NATS" --name echo --concurrency 256 & BARE_PID=$!; PIDS+=($BARE_PID)
for _ in $(seq 100); do curl -sf -X POST -d x "$RELAY_JOBS" >/dev/null && break; sleep 0.1; done

# A worker's metrics on any free port: the default one may be taken on a shared box. No queue
# bound (--max-queued 0, gateway and worker alike): A queues 10,000+ jobs a second with no
# worker running, and the default bound (100,000 per service and priority) would refuse some
# within a phase — and a 503 is cheaper than an accept.
start_worker() {  # $1 = concurrency, $2 = a log file (else the terminal)
  local args=(worker --nats-url "$NATS" --services echo,echo-fast,slow,slow-fast --concurrency "${1:-256}" --max-queued 0 --metrics-port 0 --log-level warning)
  if [[ -n ${2:-} ]]; then "$BIN/baton" "${args[@]}" >"$2" 2>&1 & WPID=$!; else "$BIN/baton" "${args[@]}" & WPID=$!; fi
  PIDS+=($WPID)
}
# wait_answers WHO SERVICE BODY: waits until POST $G/v1/jobs/SERVICE answers 200 (its worker
# registered), else stops the bench.
wait_answers() {
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$G/v1/jobs/$2" -d "$3")" = 200 ] && return 0; sleep 0.1; done
  echo "$1: $2 does not answer"; exit 1
}
wait_durable() { wait_answers "$1" echo x; }
# held_phase NAME SERVICE: HELD sync calls on SERVICE (bench/held.lua, one per connection),
# recorded as NAME; sets NAME_OK and NAME_BAD (answered right, wrong) and NAME_RSS (the gateway's
# peak resident set, MB: start a fresh gateway first).
held_phase() {
  record "$1" "$(wrk_run -t$THREADS -c$HELD -d12s --timeout 30s -s bench/held.lua "$G/v1/jobs/$2" -- $((HELD / THREADS)))"
  printf -v "$1_OK" '%s' "$(grep -o 'held_ok=[0-9]*' "$WORK/last-wrk.txt" | cut -d= -f2)"
  printf -v "$1_BAD" '%s' "$(grep -o 'held_bad=[0-9]*' "$WORK/last-wrk.txt" | cut -d= -f2)"
  printf -v "$1_RSS" '%s' "$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$GPID/status)"
}
start_gateway() {
  GPORT=$(free_port)
  "$BIN/baton" gateway --nats-url "$NATS" --port "$GPORT" --host 127.0.0.1 --max-queued 0 --log-level warning & GPID=$!; PIDS+=($GPID)
  wait_http "http://127.0.0.1:$GPORT/readyz"
}
start_worker
start_gateway
G=http://127.0.0.1:$GPORT
FAST=$G/v1/jobs/echo-fast      # F
DURABLE=$G/v1/jobs/echo        # D, A
wait_durable F

# Warm-up, not recorded: a process's first seconds under load are not a running system's
# (allocator arenas and nats-server's Go heap growing from nothing, GC at every small step):
# round 1 read D/RD 0.59–0.66 in three reports where rounds 2 and 3 read 0.75–0.93.
echo "== warm-up: ${WARMUP} s on each of H, F, R, D and RD (not recorded)"
for url in "$HELLO" "$FAST" "$RELAY" "$DURABLE" "$RELAY_JOBS"; do
  wrk -t$THREADS -c$CONNS -d${WARMUP}s -s bench/post.lua "$url" >/dev/null
done

paced() {  # $1 = target rps, $2 = url, $3 = the phase's p50 at one connection (ms)
  # wrk waits a random time of mean `delay` after each answer (bench/paced.lua: exponential, so
  # that the connections do not move in step), so a connection's mean cycle is delay + latency.
  local conns=32 delay
  delay=$(python3 -c "print(max(1, round($conns * 1000 / max($1, 1) - $3)))")
  DELAY_MS=$delay wrk_run -t$THREADS -c$conns -d${DURATION}s -s bench/paced.lua "$2"
}
p50() { echo "$1" | awk '{print $2}'; }

# The throughput phases the ratios come from (H, N, F, R, D and RD), each cut into SLICES slices
# of SLICE seconds, run in ABBA order: forward, backward, forward... So every phase's slices sit
# at the same mean time of the round, and a steady drift of this box's speed cancels out of the
# ratios instead of landing on whichever phase ran in the slow stretch. With 8 s phases one after
# another, the rounds of one run read F/R 0.70–0.82 and D/RD 0.71–0.99 (1152Z): phases ten to
# thirty seconds apart. A slice starts with a forced collection of nats-server like any phase.
# In the last round, nats-server's own counts of D (stored messages, acks, API requests per job)
# are taken over D's first slice.
THROUGHPUT=(H N F R D RD)
BACKWARD=(RD D R F N H)
SLICE=$(( DURATION / SLICES > 0 ? DURATION / SLICES : 1 ))
throughput_round() {  # $1 = round
  local round=$1 k p order
  mkdir -p "$WORK/slices"
  for k in $(seq "$SLICES"); do
    if (( k % 2 )); then order=("${THROUGHPUT[@]}"); else order=("${BACKWARD[@]}"); fi
    for p in "${order[@]}"; do
      if [[ $p == N ]]; then
        settle
        python3 bench/slices.py nats "$("$BIN/baton-bench" nats-rr --nats-url "$NATS" --concurrency "$CONNS" --duration "$SLICE")" >> "$WORK/slices/N.$round"
        continue
      fi
      local counted=""
      if [[ $p == D ]] && (( round == ROUNDS && k == 1 )); then
        counted=1; python3 bench/jsz.py snap "$MON" > "$WORK/js-D-before.json"
      fi
      local url; case $p in H) url=$HELLO ;; F) url=$FAST ;; R) url=$RELAY ;; D) url=$DURABLE ;; RD) url=$RELAY_JOBS ;; esac
      wrk_run -t$THREADS -c$CONNS -d${SLICE}s -s bench/post.lua "$url" >/dev/null
      python3 bench/slices.py wrk "$WORK/last-wrk.txt" >> "$WORK/slices/$p.$round"
      if [[ -n $counted ]]; then js_count D "$MON"; fi
    done
  done
  for p in "${THROUGHPUT[@]}"; do record "$p.$round" "$(python3 bench/slices.py total "$WORK/slices/$p.$round")"; done
}

# The phases the ratios come from, in ROUNDS rounds: this box's speed drifts by ±20% over
# minutes, so one pass can land a phase on a slow stretch and its ratio with it. Each round
# yields every ratio, its throughput phases interleaved (throughput_round); the report takes the
# rounds' medians.
# accept_ra ROUND: phase RA at A's settings, then its jobs (which no worker takes) purged.
accept_ra() {
  local out; out=$(wrk_run -t$THREADS -c$CONNS -d${DURATION}s -s bench/async.lua $RELAY_ACCEPT)
  RA_BAD=$(( ${RA_BAD:-0} + $(grep -o 'bad_responses=[0-9]*' "$WORK/last-wrk.txt" | cut -d= -f2) ))
  record RA.$1 "$out"
  "$BIN/baton-bench" purge --nats-url "$NATS" >/dev/null
}

# paced_half LANE URL: LANE·½ of this round, at half of D's peak (D·½ and RD·½ share the rate).
paced_half() { record "$1half.$round" "$(paced $(( ${R[D.$round]%% *} / 2 )) "$2" "$(p50 "${R[$1"1.$round"]}")")"; }
for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS"
  echo "== H, N, F, R, D and RD: $SLICES slices of ${SLICE} s each, interleaved"
  throughput_round "$round"

  echo "== the same at 1 connection"
  record H1.$round "$(wrk_run -t1 -c1 -d5s -s bench/post.lua $HELLO)"
  # N·1, a lone NATS request-reply (no HTTP): the round trip F·1 and R·1 make on top of H·1.
  record N1.$round "$(python3 bench/slices.py total <(python3 bench/slices.py nats "$("$BIN/baton-bench" nats-rr --nats-url "$NATS" --concurrency 1 --duration 5)"))"
  record F1.$round "$(wrk_run -t1 -c1 -d5s -s bench/post.lua $FAST)"
  record R1.$round "$(wrk_run -t1 -c1 -d5s -s bench/post.lua $RELAY)"
  record D1.$round "$(wrk_run -t1 -c1 -d5s -s bench/post.lua $DURABLE)"
  record RD1.$round "$(wrk_run -t1 -c1 -d5s -s bench/post.lua $RELAY_JOBS)"

  echo "== latency at half of this round's peak (paced)"
  # What the server holds when the paced phases start (the results of every job so far, kept
  # 24 h): the durable tails grow with it from round to round (the report prints both).
  echo "store.$round $(python3 bench/jsz.py stored "$MON")" >> "$WORK/results"
  record Fhalf.$round "$(paced $(( ${R[F.$round]%% *} / 2 )) $FAST "$(p50 "${R[F1.$round]}")")"
  # The durable design with no Baton logic at D·½'s rate (RD·½): the tail the stack itself has
  # there. The two take turns going first (D·½ first in odd rounds): a p99 is a few stalls, and
  # a stall of the box that always met the same one of the pair read as that lane's tail.
  if (( round % 2 == 1 )); then paced_half D $DURABLE; paced_half RD $RELAY_JOBS; else paced_half RD $RELAY_JOBS; paced_half D $DURABLE; fi

  echo "== A: respond-async accept rate (no worker running), then the workers' drain rate"
  # The worker's resident set once it has run every durable job of the rounds so far: it must
  # not grow with the jobs run (a task group once kept every finished job's task, ~27 KB a job).
  WORKER_RSS=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$WPID/status)
  WORKER_RSS_FIRST=${WORKER_RSS_FIRST:-$WORKER_RSS}
  echo "   worker resident set after the durable phases: ${WORKER_RSS} MB"
  stop $WPID
  # RA, the accept's design with nothing of Baton in it (job published, record created, 202),
  # beside A while no worker runs: before A in even rounds, after it in odd ones.
  if (( round % 2 == 0 )); then accept_ra "$round"; fi
  A_OUT=$(wrk_run -t$THREADS -c$CONNS -d${DURATION}s -s bench/async.lua $DURABLE)
  A_BAD=$(( ${A_BAD:-0} + $(grep -o 'bad_responses=[0-9]*' "$WORK/last-wrk.txt" | cut -d= -f2) ))
  record A.$round "$A_OUT"
  if (( round % 2 == 1 )); then accept_ra "$round"; fi
  start_worker
  DRAIN=$("$BIN/baton-bench" drain --nats-url "$NATS")   # the queue is empty again for the next round
  echo "   drain: $(echo "$DRAIN" | tr '\n' ' ')"
  DRAIN_RATE=$(echo "$DRAIN" | grep -o 'rate=[0-9]*' | cut -d= -f2)
  echo "drain.$round $DRAIN_RATE $(echo "$DRAIN" | grep -o 'queued=[0-9]*' | cut -d= -f2)" >> "$WORK/results"
  wait_durable "round $round"
done

# Heap allocations per call of each process, counted (not timed) with a perf uprobe on libc's
# malloc after the timed phases (a uprobe slows every malloc); skipped without perf or root.
echo "== M: heap allocations per call (libc malloc), 5 s of each of F, R, D and RD at $CONNS connections"
ALLOCS=$(bench/allocs.sh "$WORK" "$THREADS" "$CONNS" "F,$GPID,$WPID,$FAST" "R,$RELAY_PID,$WPID,$RELAY" \
  "D,$GPID,$WPID,$DURABLE" "RD,$RELAY_PID,$BARE_PID,$RELAY_JOBS")
echo "   $ALLOCS"

echo "== S: durable lane on a nats-server with jetstream { sync_interval: always } (fsync on every write)"
# The strict-durability setting of nats/README.md, side by side with D (nats-server 2.10+).
if python3 -c "import sys; v=tuple(map(int, sys.argv[1].lstrip('v').split('-')[0].split('.'))); sys.exit(v < (2, 10))" "$(bench_version "$NATS_SERVER")"; then
  MAIN=("$NATS" "$G" "$GPID" "$WPID")
  start_nats sync "sync_interval: always"; SYNC_PID=$NATS_PID
  # A second worker next to D's: its metrics on any free port.
  "$BIN/baton" worker --nats-url "$NATS" --services echo --concurrency 256 --max-queued 0 --metrics-port 0 --log-level warning & WPID=$!; PIDS+=($WPID)
  start_gateway
  G=http://127.0.0.1:$GPORT
  wait_durable S
  js_phase S "$NATS_MON" -t$THREADS -c$CONNS -d${DURATION}s -s bench/post.lua $G/v1/jobs/echo
  record S1 "$(wrk_run -t1 -c1 -d5s -s bench/post.lua $G/v1/jobs/echo)"
  stop $GPID; stop $WPID; stop $SYNC_PID
  NATS=${MAIN[0]} G=${MAIN[1]} GPID=${MAIN[2]} WPID=${MAIN[3]}
else
  echo "   skipped: sync_interval needs nats-server 2.10+"
  record S "nan nan nan 0 0"; record S1 "nan nan nan 0 0"; R[js_S]=""
fi

echo "== W: $HELD concurrent held sync calls (slow, 5 s) on a fresh gateway"
stop $GPID; stop $WPID
start_worker $((HELD + 1000)) "$WORK/worker-W.log"
start_gateway
G=http://127.0.0.1:$GPORT
wait_durable W
ulimit -n "$(ulimit -Hn)" || true
held_phase W slow
# The worker's "cannot record the end of the job" warnings logged by the end of the phase: both
# "...yet; retrying" (a first failure, retried in place) and "...; handing it back" (given up).
W_END=$(grep -c 'cannot record the end of the job' "$WORK/worker-W.log" || true)
W_END_BACK=$(grep -c 'cannot record the end of the job; handing it back' "$WORK/worker-W.log" || true)
echo "   held: ok=$W_OK bad=$W_BAD (of $(( HELD / THREADS * THREADS )) calls) gateway peak RSS=${W_RSS} MB;" \
  "worker: $W_END × cannot record the end of the job ($W_END_BACK handed back)"

# The same on the fast lane: a held fast-lane call has no stored job, only the gateway's wait on
# a NATS request (a child task, a reply-inbox slot). b29491e once cost each ~12 KB more.
echo "== WF: $HELD concurrent held sync calls on the fast lane (slow-fast, 5 s) on a fresh gateway"
stop $GPID
start_gateway
G=http://127.0.0.1:$GPORT
wait_answers WF slow-fast '{"ms": 0}'
held_phase WF slow-fast
echo "   held on the fast lane: ok=$WF_OK bad=$WF_BAD (of $(( HELD / THREADS * THREADS )) calls) gateway peak RSS=${WF_RSS} MB"

echo "== report"
DATE=$(date -u +%Y-%m-%dT%H%MZ)
mkdir -p bench/results
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
CPU+=", $(awk '/MemTotal/ {printf "%.1f GB RAM", $2/1024/1024}' /proc/meminfo), $(uname -sr)"
VERSIONS="$(swift --version 2>&1 | head -1); nats-server $(bench_version "$NATS_SERVER"); nats.c $(dpkg-query -W -f='${Version}' libnats-dev); $( (wrk --version 2>&1 || true) | head -1 | cut -d' ' -f1-2)"
RA_BAD=${RA_BAD:-0} WARMUP=$WARMUP SLICES=$SLICES SLICE=$SLICE python3 bench/report.py "bench/results/$DATE" "$(nproc)" "$CPU" "$VERSIONS" "$COMMIT" "$DURATION" "$CONNS" "$HELD" \
  "$ROUNDS" "$WORK/results" "${A_BAD:-0}" "${W_OK:-0}" "${W_BAD:-0}" "${W_RSS:-0}" \
  "${R[js_D]}" "${R[js_S]}" "${W_END:-0}" "${W_END_BACK:-0}" "${WORKER_RSS_FIRST:-0}" "${WORKER_RSS:-0}" \
  "${WF_OK:-0}" "${WF_BAD:-0}" "${WF_RSS:-0}" "${ALLOCS:-}"
