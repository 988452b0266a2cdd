# Sourced by the bench scripts: what a measurement was taken of, for its report.
#   bench_nats_server          the nats-server binary to start (scripts/nats-server.sh: one setting)
#   bench_version BINARY       "v2.15.1", from `BINARY --version` ("nats-server: v2.15.1")
#   bench_commit               the commit measured: `git rev-parse --short HEAD`, plus "-dirty" when
#                              tracked files differ from it or there are untracked files (bench
#                              results aside): the release build includes them
#   free_port                  a free TCP port on 127.0.0.1
#   wait_nats_ready LOG        waits (up to 5 s) until the nats-server writing LOG is ready
#   start_nats NAME [SETTINGS] starts a nats-server for a bench: client, monitoring and pprof
#                              ports free on 127.0.0.1, JetStream stored in $WORK/js-NAME (SETTINGS
#                              added to its jetstream block), log $WORK/nats-NAME.log; adds it to
#                              PIDS, waits until it is ready and sets NATS (its URL), NATS_MON
#                              (monitoring: /varz, /jsz), NATS_PROF (pprof) and NATS_PID. The
#                              binary is $NATS_SERVER if set, else bench_nats_server's
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_nats_server() { "$BENCH_ROOT/scripts/nats-server.sh"; }

bench_version() { "$1" --version 2>/dev/null | awk '{print $NF}'; }

bench_commit() {
  local commit
  commit=$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
  if [[ -n $(git -C "$BENCH_ROOT" status --porcelain -- . ':(exclude)bench/results' 2>/dev/null) ]]; then
    commit+=-dirty
  fi
  echo "$commit"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_nats_ready() { for _ in $(seq 100); do grep -q "Server is ready" "$1" 2>/dev/null && return 0; sleep 0.05; done; }

start_nats() {
  local name=$1 settings=${2:+, $2} port mon prof
  port=$(free_port); mon=$(free_port); prof=$(free_port)
  printf 'listen: 127.0.0.1:%s\nhttp: 127.0.0.1:%s\nprof_port: %s\nmax_payload: 8MB\njetstream { store_dir: "%s/js-%s"%s }\n' \
    "$port" "$mon" "$prof" "$WORK" "$name" "$settings" > "$WORK/nats-$name.conf"
  "${NATS_SERVER:-$(bench_nats_server)}" -c "$WORK/nats-$name.conf" -l "$WORK/nats-$name.log" & NATS_PID=$!; PIDS+=($NATS_PID)
  wait_nats_ready "$WORK/nats-$name.log"
  NATS=nats://127.0.0.1:$port NATS_MON=http://127.0.0.1:$mon NATS_PROF=http://127.0.0.1:$prof
}
