#!/usr/bin/env bash
# Installs the Debian packages Baton needs, if any is missing:
#   libnats-dev (nats.c), libcurl4-openssl-dev (libcurl), nats-server, pkg-config.
set -euo pipefail

packages=(libnats-dev libcurl4-openssl-dev nats-server pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q "${missing[@]}"
