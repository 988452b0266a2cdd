#!/usr/bin/env bash
# make chaos: faults under load on the local cluster (deploy/local/cluster.sh), with exact counts.
#
# usage: deploy/local/chaos.sh [chaos_load.py options, e.g. --phases worker-kill,burst --rate 40]
#
# Under a steady load of sync and async jobs (through nginx; straight at the gateways for the
# gateway fault), one fault at a time, each bounded to ~30-50 s:
#   1. worker-kill   kill -9 a worker mid-job: its jobs are redelivered and finish
#   2. gateway-kill  kill -9 a gateway: the other's clients see nothing; its accepted jobs finish
#                    and are pollable from the other; webhooks arrive exactly once
#   3. nats-kill     kill -9 one nats-server of three: no accepted job lost, clients reconnect,
#                    the restarted node catches up (its /jsz streams match their leaders; the
#                    known defects of nats-server 2.9 are reported, not failed: chaos/server.py)
#   4. worker-pause  SIGSTOP a worker longer than the ack wait (workers restarted with 3 s): the
#                    job is redelivered; the stale worker's late answer does not replace the first
#   5. burst         gateways and workers restarted with --max-queued 40 (below the stream's
#                    bound, which must stay: lowering it deletes jobs), then 10x the workers'
#                    handler slots at once: the queue takes what fits (40 per gateway), the rest
#                    get 503 + Retry-After, nothing hangs or dies
# Each prints `accepted N, finished N, lost N, duplicated-effects N` (definitions in
# chaos_load.py, code in deploy/local/chaos/), client errors by kind, the load rate and latencies. Any lost job, duplicated
# effect or failed check makes the exit status non-zero.
#
# The cluster: if it is down, it is brought up (building the release binary if needed) and taken
# down at the end (its logs are copied to $CHAOS_LOGS, default /tmp/baton-chaos-<time>, first);
# if it is up, it is used and left up, restarted processes back to cluster.sh's own settings.
# Environment: CHAOS_RATE (durable calls per second, default 60), CHAOS_TIMEOUT (whole run, s,
# default 600), CLUSTER_SH and BATON_CLUSTER_DIR (another cluster script / state directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case ${1:-} in
  -h|--help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    echo; python3 "$ROOT/deploy/local/chaos_load.py" --help
    exit 0 ;;
esac
CLUSTER=${CLUSTER_SH:-$ROOT/deploy/local/cluster.sh}
STATE=${BATON_CLUSTER_DIR:-$ROOT/.cluster}
CHAOS_TIMEOUT=${CHAOS_TIMEOUT:-600}
LOGS=${CHAOS_LOGS:-${TMPDIR:-/tmp}/baton-chaos-$(date +%Y%m%dT%H%M%S)}
export BATON_CLUSTER_DIR=$STATE

we_started=0
load_pid=

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $load_pid ]] && kill -0 "$load_pid" 2>/dev/null; then
    kill -INT "$load_pid" 2>/dev/null || true   # it restores the workers it restarted
    wait "$load_pid" 2>/dev/null || true
  fi
  # A run interrupted while a worker was paused must not leave it stopped.
  for worker in worker-1 worker-2; do "$CLUSTER" kill "$worker" CONT >/dev/null 2>&1 || true; done
  if ((we_started)); then
    mkdir -p "$LOGS" && cp -r "$STATE/logs" "$LOGS/" 2>/dev/null && echo "chaos: cluster logs copied to $LOGS/logs"
    "$CLUSTER" down >/dev/null 2>&1 || echo "chaos: cluster.sh down failed; see $CLUSTER status" >&2
  else
    # Found up: leave it up (start whatever a fault left stopped).
    "$CLUSTER" up >/dev/null 2>&1 || echo "chaos: could not restore the cluster; see $CLUSTER status" >&2
  fi
  echo "chaos: $( ((status == 0)) && echo passed || echo "FAILED (exit $status)") in $((SECONDS))s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

running=$("$CLUSTER" status 2>/dev/null | awk '$3 == "running" || $3 == "paused" || $2 == "up"' | wc -l || true)
if ((running == 0)); then
  echo "chaos: bringing the cluster up ($CLUSTER up)"
  we_started=1
  "$CLUSTER" up
else
  echo "chaos: using the running cluster ($running processes up); it stays up afterwards"
  "$CLUSTER" up
  for worker in worker-1 worker-2; do "$CLUSTER" kill "$worker" CONT >/dev/null 2>&1 || true; done
fi
nats_version=$(sed -n 's/^NATS_SERVER_VERSION=//p' "$STATE/settings" 2>/dev/null || true)
nats_binary=$(sed -n 's/^NATS_SERVER=//p' "$STATE/settings" 2>/dev/null || true)
if [[ -z $nats_version ]]; then   # a cluster script that keeps no settings: what it would run
  nats_binary=$("$ROOT/scripts/nats-server.sh" 2>/dev/null || true)
  nats_version=$("$ROOT/scripts/nats-server.sh" --version 2>/dev/null | awk '{print $NF}' || true)
fi
echo "chaos: cluster ready after ${SECONDS}s; nats-server ${nats_version:-unknown} (${nats_binary:-?})"

timeout -s INT -k 30 "$CHAOS_TIMEOUT" \
  python3 "$ROOT/deploy/local/chaos_load.py" --cluster-sh "$CLUSTER" --env "$STATE/env" "$@" &
load_pid=$!
wait "$load_pid"
