#!/usr/bin/env bash
# bench/allocs.sh WORK THREADS CONNS PHASE,FRONT_PID,BACK_PID,URL...
# Heap allocations per call: libc malloc calls of the phase's front process (gateway or relay)
# and back process (worker) per call answered over a 5 s wrk run, counted with a perf uprobe.
# Prints "F=front,back R=front,back ..." (per call, one decimal), or nothing without perf or
# its uprobes (not root, no linux-perf). Counts, not times: a uprobe slows every malloc, so the
# bench runs this after its timed phases.
set -uo pipefail
WORK=$1 THREADS=$2 CONNS=$3; shift 3
command -v perf >/dev/null || exit 0
LIBC=$(ldconfig -p | awk '/libc\.so\.6 / {print $NF; exit}')
PROBE=probe_libc:malloc
ADDED=""
if ! perf probe -l 2>/dev/null | grep -q "$PROBE"; then
  perf probe -q -x "$LIBC" malloc >/dev/null 2>&1 || exit 0
  ADDED=1
fi
trap '[[ -n $ADDED ]] && perf probe -q -d "$PROBE" >/dev/null 2>&1' EXIT

count_of() { awk -F, -v p="$PROBE" '$3 == p {print $1}' "$1"; }

out=()
for spec in "$@"; do
  IFS=, read -r name front back url <<<"$spec"
  perf stat -x, -e "$PROBE" -p "$front" -o "$WORK/allocs-front.txt" >/dev/null 2>&1 & f=$!
  perf stat -x, -e "$PROBE" -p "$back" -o "$WORK/allocs-back.txt" >/dev/null 2>&1 & b=$!
  sleep 0.3
  calls=$(wrk -t"$THREADS" -c"$CONNS" -d5s -s bench/post.lua "$url" | grep -oE '^ *[0-9]+ requests in' | awk '{print $1}')
  kill -INT "$f" "$b"; wait "$f" "$b" 2>/dev/null
  out+=("$name=$(python3 -c "import sys; c = max(int(sys.argv[3] or 0), 1); print(f'{int(sys.argv[1] or 0) / c:.1f},{int(sys.argv[2] or 0) / c:.1f}')" \
    "$(count_of "$WORK/allocs-front.txt")" "$(count_of "$WORK/allocs-back.txt")" "$calls")")
done
echo "${out[*]}"
