#!/usr/bin/env bash
# Installs the Debian packages Baton needs, if any is missing:
#   libnats-dev (nats.c), libcurl4-openssl-dev (libcurl), nats-server, pkg-config.
set -euo pipefail

packages=(libnats-dev libcurl4-openssl-dev nats-server pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing missing packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q "${missing[@]}"
fi

# nats-py, for the tests' independent check of the NATS micro answers (micro_check.py), only
# when missing. Checked from / so the repository's nats/ folder does not pass for the package;
# Debian's own python3 needs --break-system-packages (PEP 668).
(cd / && python3 -c 'import nats.aio.client' 2>/dev/null) \
    || python3 -m pip install -q nats-py \
    || python3 -m pip install -q --break-system-packages nats-py

# openapi-spec-validator and schemathesis, for OpenAPITests (validate openapi.json, fuzz the
# live gateway against it), only when missing.
(cd / && python3 -c 'import openapi_spec_validator' 2>/dev/null) \
    || python3 -m pip install -q openapi-spec-validator \
    || python3 -m pip install -q --break-system-packages openapi-spec-validator
(cd / && python3 -c 'import schemathesis' 2>/dev/null) \
    || python3 -m pip install -q schemathesis \
    || python3 -m pip install -q --break-system-packages schemathesis
