#!/usr/bin/env bash
# make bench-scale: 2 gateways + 2 workers against 1 + 1 on the same local 3-node cluster
# (deploy/local/cluster.sh), side by side: rounds alternate the two setups, each round a wrk run
# of durable sync `echo` calls through nginx; prints the medians and their ratio.
#
# usage: bench/scale.sh            ROUNDS=5 DURATION=10 CONNS=64 change the defaults
#
# The cluster is brought up if it is down and taken down after (left as it was otherwise, with
# gateway-2 and worker-2 running). On a 2-core box every setup is CPU-bound: the ratio says
# what a second gateway and worker cost or gain there, not what they gain on more cores.
# The nats-server is cluster.sh's: scripts/nats-server.sh's choice (BATON_NATS_SERVER) at its `up`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
CLUSTER=deploy/local/cluster.sh

command -v wrk >/dev/null || { apt-get install -y -q wrk || sudo apt-get install -y -q wrk; }

is_up() { $CLUSTER status | awk -v n="$1" '$1 == n && $3 == "running" { found = 1 } END { exit !found }'; }
started=0
if ! is_up gateway-1; then
  $CLUSTER up >/dev/null
  started=1
fi
restore() {
  if [[ $started == 1 ]]; then $CLUSTER down >/dev/null 2>&1; return; fi
  for name in gateway-2 worker-2; do is_up "$name" || $CLUSTER start "$name" >/dev/null 2>&1; done
}
trap restore EXIT
set -a; . .cluster/env; set +a
# What is measured: the commit (of the working tree cluster.sh built), the nats-server the cluster runs.
COMMIT=$(bench_commit)
NATS_VERSION=$(sed -n 's/^NATS_SERVER_VERSION=//p' .cluster/settings 2>/dev/null || true)
NATS_VERSION=${NATS_VERSION:-$(bench_version "$(bench_nats_server)")}
echo "== commit $COMMIT, nats-server $NATS_VERSION"

# Requests per second of one wrk run (non-2xx answers are reported and fail the run).
measure() {
  local out rps errors
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s bench/post.lua "$GATEWAY_URL/v1/jobs/echo")
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx responses/ { print $NF }' <<<"$out")
  if [[ -n $errors ]]; then echo "wrk: $errors non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
  printf '%.0f' "$rps"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "== warm-up"
measure >/dev/null
two=() one=()
for round in $(seq "$ROUNDS"); do
  for name in gateway-2 worker-2; do is_up "$name" || $CLUSTER start "$name" >/dev/null 2>&1; done
  two+=("$(measure)")
  $CLUSTER stop gateway-2 >/dev/null 2>&1
  $CLUSTER stop worker-2 >/dev/null 2>&1
  # nginx learns that gateway-2 is gone (a refused connection fails over to gateway-1 at once).
  for _ in $(seq 10); do curl -sf -o /dev/null -d warm "$GATEWAY_URL/v1/jobs/echo"; done
  one+=("$(measure)")
  echo "round $round: 2+2 ${two[-1]} req/s, 1+1 ${one[-1]} req/s"
done
m2=$(printf '%s\n' "${two[@]}" | median)
m1=$(printf '%s\n' "${one[@]}" | median)
echo
echo "durable sync echo via nginx, wrk -c$CONNS ${DURATION}s, $ROUNDS interleaved rounds, $(nproc) cores;"
echo "commit $COMMIT, nats-server $NATS_VERSION (3-node cluster)"
echo "2 gateways + 2 workers: median $m2 req/s (${two[*]})"
echo "1 gateway  + 1 worker:  median $m1 req/s (${one[*]})"
awk -v a="$m2" -v b="$m1" 'BEGIN { printf "ratio 2+2 / 1+1: %.2f\n", a / b }'
