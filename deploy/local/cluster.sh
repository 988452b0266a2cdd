#!/usr/bin/env bash
# A whole Baton deployment on this machine, on loopback:
#
#   nginx :8180 ──▶ gateway-1 :8181 ─┐                 ┌─ worker-1 (metrics :9191)
#                └▶ gateway-2 :8182 ─┴─ NATS cluster ──┴─ worker-2 (metrics :9192)
#                                      nats-1 :4301  nats-2 :4302  nats-3 :4303
#                                      (JetStream, streams and buckets with 3 replicas)
#
# usage: deploy/local/cluster.sh up | down [--keep] | status
#                                start NAME | stop NAME | kill NAME [SIGNAL]
#   NAME: nats-1 nats-2 nats-3 gateway-1 gateway-2 worker-1 worker-2 nginx
#
#   up            start whatever is not running (builds the release binary if it is missing or
#                 older than the sources, installs nginx if missing), wait until it is ready
#   down          SIGTERM everything this script started (pid files), SIGKILL after $STOP_TIMEOUT s,
#                 then delete .cluster/ (data, logs, secret) unless --keep
#   status        each process, its pid and health; the JetStream meta leader and stream replicas
#   start NAME    start one process (again) with the same command line as `up`, wait until ready
#   stop NAME     SIGTERM one process (its process group), SIGKILL after $STOP_TIMEOUT s
#   kill NAME [SIGNAL]  send SIGNAL (default KILL; e.g. TERM, STOP, CONT) to its process group, no waiting
#
# State lives in .cluster/ at the repository root ($BATON_CLUSTER_DIR to move it): pids/NAME.pid,
# logs/NAME.log, data/nats-N/ (JetStream stores), webhook-secret, nginx.conf, and env (source it:
# GATEWAY_URL, GATEWAY_URLS, NATS_URLS, WEBHOOK_SECRET, ...).
#
# Environment: BATON_BIN (use this baton binary, no build); CONCURRENCY (worker handlers per
# service, default 64 rather than baton's 16, to keep up with 64 benchmark connections);
# METRICS_PORT_BASE (worker-N's /metrics port is this + N, default 9190); STOP_TIMEOUT (default
# 20 s); READY_TIMEOUT (default 60 s); BATON_NATS_SERVER (the nats-server binary, see
# scripts/nats-server.sh: by default the current release in .tools/nats, else PATH).
# CONCURRENCY, METRICS_PORT_BASE and the nats-server binary chosen at `up` are kept in
# .cluster/settings for later `start`s (with its version: NATS_SERVER, NATS_SERVER_VERSION).
# Needs bash, curl, python3, a nats-server (scripts/install-deps.sh), nginx (installed with
# apt-get when missing) and swift unless BATON_BIN is set.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${BATON_CLUSTER_DIR:-$ROOT/.cluster}
# Settings chosen at `up` are kept in .cluster/settings, so `start NAME` later runs the same thing.
SAVED_CONCURRENCY= SAVED_METRICS_PORT_BASE= SAVED_NATS_SERVER=
if [[ -r $STATE/settings ]]; then
  SAVED_CONCURRENCY=$(sed -n 's/^CONCURRENCY=\([0-9]*\)$/\1/p' "$STATE/settings")
  SAVED_METRICS_PORT_BASE=$(sed -n 's/^METRICS_PORT_BASE=\([0-9]*\)$/\1/p' "$STATE/settings")
  SAVED_NATS_SERVER=$(sed -n 's/^NATS_SERVER=\(.*\)$/\1/p' "$STATE/settings")
fi
CONCURRENCY=${CONCURRENCY:-${SAVED_CONCURRENCY:-64}}
METRICS_PORT_BASE=${METRICS_PORT_BASE:-${SAVED_METRICS_PORT_BASE:-9190}}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
READY_TIMEOUT=${READY_TIMEOUT:-60}
SERVICES=echo,echo-fast,slow,slow-fast,fail,flaky

NAMES=(nats-1 nats-2 nats-3 gateway-1 gateway-2 worker-1 worker-2 nginx)
NATS_URLS=nats://127.0.0.1:4301,nats://127.0.0.1:4302,nats://127.0.0.1:4303
GATEWAY_URL=http://127.0.0.1:8180
GATEWAY_URLS=http://127.0.0.1:8181,http://127.0.0.1:8182

log() { printf '%s\n' "$*" >&2; }
die() { log "cluster: $*"; exit 1; }

valid_name() { local n; for n in "${NAMES[@]}"; do [[ $n == "$1" ]] && return 0; done; return 1; }
index_of() { echo "${1##*-}"; }   # nats-2 → 2

# The port each process answers health checks on (monitoring for NATS, metrics for workers).
port_of() {
  case $1 in
    nats-*) echo $((8300 + $(index_of "$1"))) ;;
    gateway-*) echo $((8180 + $(index_of "$1"))) ;;
    worker-*) echo $((METRICS_PORT_BASE + $(index_of "$1"))) ;;
    nginx) echo 8180 ;;
  esac
}

health_url() {
  local port; port=$(port_of "$1")
  case $1 in
    gateway-*) echo "http://127.0.0.1:$port/readyz" ;;       # NATS connected, streams present
    nginx) echo "http://127.0.0.1:$port/nginx-health" ;;
    *) echo "http://127.0.0.1:$port/healthz" ;;               # NATS: JetStream current too
  esac
}

# The nats-server binary: $BATON_NATS_SERVER when set, else the one `up` chose (settings), else
# scripts/nats-server.sh's choice. Resolved once, on first use (nats_server), so that `status`
# and `down` work without any nats-server installed.
NATS_SERVER=
nats_server() {
  if [[ -z $NATS_SERVER ]]; then
    if [[ -z ${BATON_NATS_SERVER:-} && -n $SAVED_NATS_SERVER ]]; then
      NATS_SERVER=$SAVED_NATS_SERVER
      [[ -x $NATS_SERVER ]] || die "the nats-server the cluster was brought up with ($NATS_SERVER, .cluster/settings) is gone; down it, or set BATON_NATS_SERVER"
    else
      NATS_SERVER=$("$ROOT/scripts/nats-server.sh") || die "no nats-server (scripts/install-deps.sh installs one)"
    fi
  fi
  echo "$NATS_SERVER"
}
# "v2.15.1" (from `nats-server --version`: "nats-server: v2.15.1").
nats_server_version() { "$(nats_server)" --version 2>/dev/null | awk '{print $NF}'; }

# What a pid must be running for us to call it ours (a pid file can outlive its process): for NATS
# the basename of the binary, wherever it lives (its command line starts with the full path).
binary_of() {
  case $1 in
    nats-*) basename "${NATS_SERVER:-${SAVED_NATS_SERVER:-nats-server}}" ;;
    nginx) echo nginx ;;
    *) echo baton ;;
  esac
}

pidfile() { echo "$STATE/pids/$1.pid"; }

# The pid of NAME if it is running (and is what we started), else nothing.
running_pid() {
  local f pid state exe
  f=$(pidfile "$1")
  [[ -s $f ]] || return 0
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  [[ -r /proc/$pid/stat ]] || return 0
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ -n $state && $state != Z && $state != X ]] || return 0      # exited (maybe unreaped)
  exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $exe == *"$(binary_of "$1")"* ]] || return 0
  echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Every port NAME listens on.
ports_of() {
  case $1 in
    nats-*) local i; i=$(index_of "$1"); echo "$((4300 + i)) $((6300 + i)) $((8300 + i))" ;;
    *) port_of "$1" ;;
  esac
}

# Fail before starting anything if a port of a process to start is taken.
check_ports() {
  local name port taken=()
  for name in "$@"; do
    for port in $(ports_of "$name"); do port_busy "$port" && taken+=("$port ($name)"); done
  done
  ((${#taken[@]} == 0)) || die "ports in use by processes this script did not start: ${taken[*]}
  (another cluster? deploy/local/cluster.sh status; METRICS_PORT_BASE moves the worker metrics ports)"
}

# --- preparation ----------------------------------------------------------------------------

baton_bin() {
  if [[ -n ${BATON_BIN:-} ]]; then echo "$BATON_BIN"; else echo "$ROOT/.build/release/baton"; fi
}

# Build when the binary is missing or (unless $1 is "if-missing") older than the sources.
ensure_binary() {
  [[ -n ${BATON_BIN:-} ]] && { [[ -x $BATON_BIN ]] || die "BATON_BIN=$BATON_BIN is not executable"; return; }
  local bin; bin=$(baton_bin)
  if [[ -x $bin ]] && { [[ ${1:-} == if-missing ]] ||
    [[ -z $(find "$ROOT/Sources" "$ROOT/Package.swift" -newer "$bin" -print -quit 2>/dev/null) ]]; }; then
    return
  fi
  log "building the release binary (swift build -c release --product baton) ..."
  if (cd "$ROOT" && swift build -c release --product baton >&2); then
    touch "$bin"      # up to date even when the change was in a file baton does not link
  else
    [[ -x $bin ]] || die "build failed and there is no $bin"
    log "build failed: using the existing $bin"
  fi
}

ensure_tools() {
  local tool
  for tool in curl python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
  done
  local nats; nats=$(nats_server) || exit 1
  [[ -n $(nats_server_version) ]] || die "$nats --version failed: not a nats-server?"
  if ! command -v nginx >/dev/null; then
    log "installing nginx (apt-get) ..."
    local sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >&2 \
      || { $sudo apt-get update -q >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >&2; } \
      || die "could not install nginx"
  fi
}

prepare_state() {
  mkdir -p "$STATE"/{pids,logs,data,nginx}
  if [[ ! -s $STATE/webhook-secret ]]; then
    (umask 077; python3 -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(32)).decode())' \
      >"$STATE/webhook-secret")
  fi
  local secret; secret=$(<"$STATE/webhook-secret")
  cat >"$STATE/env" <<EOF
# Written by deploy/local/cluster.sh; source it: set -a; . .cluster/env; set +a
GATEWAY_URL=$GATEWAY_URL
GATEWAY_URLS=$GATEWAY_URLS
NATS_URLS=$NATS_URLS
NATS_MONITOR_URLS=http://127.0.0.1:8301,http://127.0.0.1:8302,http://127.0.0.1:8303
WORKER_METRICS_URLS=http://127.0.0.1:$((METRICS_PORT_BASE + 1))/metrics,http://127.0.0.1:$((METRICS_PORT_BASE + 2))/metrics
WEBHOOK_SECRET=$secret
# for the baton client and tools (baton submit, baton sub, ...)
BATON_GATEWAY=$GATEWAY_URL
BATON_NATS_URL=$NATS_URLS
EOF
  chmod 600 "$STATE/env"
  printf 'CONCURRENCY=%s\nMETRICS_PORT_BASE=%s\nNATS_SERVER=%s\nNATS_SERVER_VERSION=%s\n' \
    "$CONCURRENCY" "$METRICS_PORT_BASE" "$(nats_server)" "$(nats_server_version)" >"$STATE/settings"
  write_nginx_conf
}

write_nginx_conf() {
  cat >"$STATE/nginx.conf" <<EOF
# Written by deploy/local/cluster.sh: nginx in front of both gateways.
worker_processes auto;
pid $STATE/nginx/nginx.pid;       # nginx's own; pids/nginx.pid is the script's
error_log $STATE/logs/nginx.log notice;

events { worker_connections 4096; }

http {
  access_log $STATE/logs/nginx-access.log combined buffer=64k flush=1s;
  client_body_temp_path $STATE/nginx/client-body;
  proxy_temp_path $STATE/nginx/proxy;
  fastcgi_temp_path $STATE/nginx/fastcgi;
  uwsgi_temp_path $STATE/nginx/uwsgi;
  scgi_temp_path $STATE/nginx/scgi;

  # The gateways answer 413 themselves (--max-body, 1 MiB by default): let bodies through to them.
  client_max_body_size 16m;
  client_body_buffer_size 1m;

  upstream baton_gateways {
    # A gateway that refuses a connection is skipped for 3 s.
    server 127.0.0.1:8181 max_fails=1 fail_timeout=3s;
    server 127.0.0.1:8182 max_fails=1 fail_timeout=3s;
    keepalive 128;
    keepalive_timeout 30s;
  }

  server {
    listen 127.0.0.1:8180;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto \$scheme;

    # Try the other gateway only when this one could not be reached. nginx never resends a POST
    # once it has been sent (no "non_idempotent"), and never on a timeout: a job the first
    # gateway accepted must not be submitted twice.
    proxy_next_upstream error;
    proxy_next_upstream_tries 2;
    proxy_connect_timeout 2s;

    # Prefer: wait=60 (the gateways' --max-wait) and long-polls hold a request for up to 60 s.
    proxy_read_timeout 75s;
    proxy_send_timeout 75s;

    location / {
      proxy_pass http://baton_gateways;
    }

    # Server-sent events: pass each event on at once, keep the stream open (heartbeats every 15 s).
    location ~ ^/v1/jobs/[^/]+/events\$ {
      proxy_pass http://baton_gateways;
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
    }

    location = /nginx-health { access_log off; default_type text/plain; return 200 "ok\n"; }
    location = /nginx-status { access_log off; stub_status; }
  }
}
EOF
}

# --- processes ------------------------------------------------------------------------------

# The command line of NAME (one argument a line).
command_of() {
  local i; i=$(index_of "$1")
  case $1 in
    nats-*)
      printf '%s\n' "$(nats_server)" -c "$ROOT/nats/cluster/n$i.conf" -sd "$STATE/data/nats-$i" ;;
    gateway-*)
      printf '%s\n' "$(baton_bin)" gateway --nats-url "$NATS_URLS" --host 127.0.0.1 --port "$(port_of "$1")" \
        --webhook-allow 127.0.0.0/8 ;;
    worker-*)
      printf '%s\n' "$(baton_bin)" worker --nats-url "$NATS_URLS" --services "$SERVICES" \
        --concurrency "$CONCURRENCY" --metrics-host 127.0.0.1 --metrics-port "$(port_of "$1")" ;;
    nginx)
      printf '%s\n' nginx -p "$STATE/nginx/" -c "$STATE/nginx.conf" -e "$STATE/logs/nginx.log" -g 'daemon off;' ;;
  esac
}

# Start NAME in its own session (so stop/kill reach nginx's workers too), output appended to its log.
launch() {
  local name=$1 pid
  pid=$(running_pid "$name")
  if [[ -n $pid ]]; then log "$name: already running (pid $pid)"; return 0; fi
  check_ports "$name"

  local -a cmd; mapfile -t cmd < <(command_of "$name")
  local f; f=$(pidfile "$name"); rm -f "$f"
  printf '\n=== %s %s\n' "$(date '+%F %T')" "${cmd[*]}" >>"$STATE/logs/$name.log"
  # The webhook secret goes in the environment (BATON_WEBHOOK_SECRET = --webhook-secret), not argv.
  local -a vars=()
  [[ $name == gateway-* ]] && vars=("BATON_WEBHOOK_SECRET=$(<"$STATE/webhook-secret")")
  # setsid, env and bash each exec the next, so the pid written is the process's own.
  setsid env "${vars[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$f" "${cmd[@]}" \
    </dev/null >>"$STATE/logs/$name.log" 2>&1 &
  local n; for n in $(seq 50); do [[ -s $f ]] && break; sleep 0.02; done
  log "$name: started (pid $(<"$f"), log ${STATE#"$ROOT"/}/logs/$name.log)"
}

# Wait until NAME answers its health check (see health_url).
wait_ready() {
  local name=$1 url deadline=$((SECONDS + READY_TIMEOUT))
  url=$(health_url "$name")
  until curl -sf -o /dev/null --max-time 2 "$url"; do
    [[ -n $(running_pid "$name") ]] || die "$name exited; see $STATE/logs/$name.log"
    ((SECONDS < deadline)) || die "$name not ready after ${READY_TIMEOUT}s ($url); see its log"
    sleep 0.2
  done
  log "$name: ready"
}

# The JetStream meta leader as node $1 sees it (empty while there is none).
meta_leader() {
  curl -sf --max-time 2 "http://127.0.0.1:$((8300 + $1))/jsz" 2>/dev/null |
    python3 -c 'import json, sys; print((json.load(sys.stdin).get("meta_cluster") or {}).get("leader", ""))' 2>/dev/null || true
}

wait_meta_leader() {
  local deadline=$((SECONDS + READY_TIMEOUT)) i leader
  while ((SECONDS < deadline)); do
    for i in 1 2 3; do
      [[ -n $(running_pid "nats-$i") ]] || continue
      leader=$(meta_leader "$i")
      if [[ -n $leader ]]; then log "JetStream meta leader: $leader"; return 0; fi
    done
    sleep 0.3
  done
  die "the JetStream cluster elected no meta leader in ${READY_TIMEOUT}s; see $STATE/logs/nats-*.log"
}

start_one() {
  local name=$1 already
  already=$(running_pid "$name")
  launch "$name"
  [[ -n $already ]] && return 0
  wait_ready "$name"
}

# SIGTERM to each named process group, then wait; SIGKILL what is left after STOP_TIMEOUT.
stop_many() {
  local -a names=("$@") live=()
  local name pid
  for name in "${names[@]}"; do
    pid=$(running_pid "$name")
    if [[ -z $pid ]]; then rm -f "$(pidfile "$name")"; continue; fi
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    kill -CONT -- "-$pid" 2>/dev/null || true       # a paused (SIGSTOP) process must run to exit
    log "$name: SIGTERM (pid $pid)"
    live+=("$name")
  done
  ((${#live[@]})) || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT)) left
  while :; do
    left=()
    for name in "${live[@]}"; do [[ -n $(running_pid "$name") ]] && left+=("$name"); done
    ((${#left[@]})) || break
    if ((SECONDS >= deadline)); then
      for name in "${left[@]}"; do
        pid=$(running_pid "$name")
        [[ -n $pid ]] || continue
        log "$name: still running after ${STOP_TIMEOUT}s, SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  for name in "${live[@]}"; do
    [[ -z $(running_pid "$name") ]] && { rm -f "$(pidfile "$name")"; log "$name: stopped"; }
  done
  return 0
}

# --- commands -------------------------------------------------------------------------------

cmd_up() {
  local name missing=()
  for name in "${NAMES[@]}"; do [[ -n $(running_pid "$name") ]] || missing+=("$name"); done
  if ((${#missing[@]} == 0)); then
    log "the cluster is already up ($GATEWAY_URL); deploy/local/cluster.sh status for details"
    return 0
  fi
  check_ports "${missing[@]}"
  ensure_tools
  ensure_binary
  prepare_state
  log "nats-server $(nats_server_version) ($(nats_server))"

  # NATS first, all three at once (a node alone cannot elect a JetStream meta leader).
  local nats_started=()
  for name in nats-1 nats-2 nats-3; do
    [[ -n $(running_pid "$name") ]] && continue
    launch "$name"; nats_started+=("$name")
  done
  for name in "${nats_started[@]}"; do wait_ready "$name"; done
  wait_meta_leader

  # One gateway first so that a single process creates the streams and buckets (with 3 replicas),
  # then the rest together.
  start_one gateway-1
  local rest=()
  for name in gateway-2 worker-1 worker-2; do
    [[ -n $(running_pid "$name") ]] && continue
    launch "$name"; rest+=("$name")
  done
  for name in "${rest[@]}"; do wait_ready "$name"; done
  start_one nginx
  # The consumers the workers just created take a few seconds to be current on every node.
  local deadline=$((SECONDS + READY_TIMEOUT))
  for name in nats-1 nats-2 nats-3; do
    until curl -sf -o /dev/null --max-time 2 "$(health_url "$name")"; do
      ((SECONDS < deadline)) || { log "$name: not healthy after ${READY_TIMEOUT}s: $(curl -s "$(health_url "$name")")"; break; }
      sleep 0.3
    done
  done
  log "JetStream: streams and consumers current on every node"

  cat <<EOF

Baton cluster up: $GATEWAY_URL (nginx → gateways $GATEWAY_URLS; NATS $NATS_URLS)
nats-server $(nats_server_version) ($(nats_server))
State, logs and the env file in ${STATE#"$ROOT"/}/ (set -a; . ${STATE#"$ROOT"/}/env; set +a).

  curl -i $GATEWAY_URL/v1/jobs/echo -d 'hello baton'
  curl -i $GATEWAY_URL/v1/jobs/slow -H 'Prefer: respond-async' -d '{"ms": 3000, "steps": 3}'
  curl -N $GATEWAY_URL/v1/jobs/<id>/events
  curl -s $GATEWAY_URL/v1/services
  deploy/local/cluster.sh status | kill nats-2 | start nats-2 | down
EOF
}

cmd_down() {
  local keep=0
  [[ ${1:-} == --keep ]] && keep=1
  [[ -d $STATE ]] || { log "the cluster is not up (no ${STATE#"$ROOT"/}/)"; return 0; }
  # Front to back: nginx, then gateways and workers (graceful drains, in parallel), then NATS.
  stop_many nginx
  stop_many gateway-1 gateway-2 worker-1 worker-2
  stop_many nats-1 nats-2 nats-3
  local name left=()
  for name in "${NAMES[@]}"; do [[ -n $(running_pid "$name") ]] && left+=("$name"); done
  ((${#left[@]} == 0)) || die "still running: ${left[*]}"
  if ((keep)); then
    log "stopped; kept ${STATE#"$ROOT"/}/ (data, logs, secret)"
  else
    rm -rf "$STATE"
    log "stopped; removed ${STATE#"$ROOT"/}/"
  fi
}

cmd_status() {
  local name pid health
  if [[ -n $SAVED_NATS_SERVER ]]; then
    echo "nats-server $(sed -n 's/^NATS_SERVER_VERSION=\(.*\)$/\1/p' "$STATE/settings") ($SAVED_NATS_SERVER, chosen at up)"
  fi
  printf '%-10s %-8s %-9s %s\n' NAME PID STATE "HEALTH"
  for name in "${NAMES[@]}"; do
    pid=$(running_pid "$name")
    if [[ -z $pid ]]; then
      if [[ -e $(pidfile "$name") ]]; then printf '%-10s %-8s %-9s\n' "$name" - dead
      else printf '%-10s %-8s %-9s\n' "$name" - stopped; fi
      continue
    fi
    local state; state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo '?')
    if [[ $state == T ]]; then
      printf '%-10s %-8s %-9s %s\n' "$name" "$pid" paused "SIGSTOP: kill $name CONT resumes it"; continue
    fi
    if curl -sf -o /dev/null --max-time 2 "$(health_url "$name")"; then health="ok $(health_url "$name")"
    else health="NOT READY $(health_url "$name")"; fi
    printf '%-10s %-8s %-9s %s\n' "$name" "$pid" running "$health"
  done
  # JetStream: the meta leader, and each stream as its leader reports it (replicas, lag).
  local i urls=()
  for i in 1 2 3; do [[ -n $(running_pid "nats-$i") ]] && urls+=("http://127.0.0.1:$((8300 + i))"); done
  ((${#urls[@]})) || return 0
  echo
  python3 - "${urls[@]}" <<'PY'
import json, sys, urllib.request
views, versions = {}, []
for url in sys.argv[1:]:
    try:
        with urllib.request.urlopen(url + "/varz", timeout=3) as r:
            varz = json.load(r)
        versions.append("%s v%s" % (varz.get("server_name", url), varz.get("version", "?")))
        with urllib.request.urlopen(url + "/jsz?streams=true&config=true", timeout=3) as r:
            views[url] = json.load(r)
    except Exception as e:
        print("%s: no /varz or /jsz answer (%s)" % (url, e))
print("nats-server running: " + (", ".join(versions) or "-"))
# Only the meta leader's own report (the one not listing the leader among the other peers: a
# follower's lists the leader too on nats-server >= 2.10) knows whether its followers are current.
metas = [v["meta_cluster"] for v in views.values() if (v.get("meta_cluster") or {}).get("leader")]
own = [m for m in metas if m.get("replicas") and m["leader"] not in [r["name"] for r in m["replicas"]]]
meta = next(iter(own), next((m for m in metas if m.get("replicas")), metas[0] if metas else None))
if not meta:
    print("JetStream: NO META LEADER (fewer than 2 of 3 nodes up, or still electing)")
else:
    peers = ", ".join("%s%s" % (p["name"], "" if p.get("current") else " (not current)") for p in meta.get("replicas") or [])
    print("JetStream meta leader %s; followers: %s" % (meta["leader"], peers or "-"))
streams = {}
for v in views.values():
    for account in v.get("account_details") or []:
        for s in account.get("stream_detail") or []:
            c = s.get("cluster") or {}
            # A node lists the other peers: the leader's own report (leader not among them) knows
            # each follower's lag, so it wins over a follower's.
            own = c.get("leader") and c["leader"] not in [r["name"] for r in c.get("replicas") or []]
            if s["name"] not in streams or own:
                streams[s["name"]] = (c.get("leader"), s)
for name in sorted(streams):
    leader, s = streams[name]
    c = s.get("cluster") or {}
    reps = ", ".join("%s%s" % (r["name"], "" if r.get("current") else " (lag %s)" % r.get("lag", "?")) for r in c.get("replicas") or [])
    print("  %-22s R%s  leader %-4s others %-24s msgs %s" % (name, s.get("config", {}).get("num_replicas", "?"),
          leader or "NONE", reps or "-", s.get("state", {}).get("messages", "?")))
PY
}

cmd_start() { valid_name "${1:-}" || usage; ensure_tools; ensure_binary if-missing; prepare_state; start_one "$1"; }

cmd_stop() { valid_name "${1:-}" || usage; stop_many "$1"; }

cmd_kill() {
  valid_name "${1:-}" || usage
  local name=$1 signal=${2:-KILL} pid
  signal=${signal#SIG}
  pid=$(running_pid "$name")
  [[ -n $pid ]] || die "$name is not running"
  kill -s "$signal" -- "-$pid" 2>/dev/null || kill -s "$signal" "$pid"
  log "$name: SIG$signal (pid $pid)"
}

usage() {
  sed -n '/^# usage:/,/^#   kill NAME/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case ${1:-} in
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  kill) cmd_kill "${2:-}" "${3:-}" ;;
  *) usage ;;
esac
