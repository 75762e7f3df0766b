#!/usr/bin/env bash
# Install what Hyperviseur needs on Debian 12 and is missing: OS packages, then the locked Python
# environment in .venv. Idempotent: a second run only checks, in a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# glewlwyd: the OpenID Connect provider the tests sign in through (Debian's package, started by the tests).
# python3-qgis, qgis-providers: the real QGIS the round-trip test drives headless. wrk: the benchmarks' load.
# mosquitto: the MQTT broker sensors publish to (started by `hyperviseur broker start`), mosquitto-clients: its
# command-line publisher/subscriber for checking a live stream by hand.
# chromium: the browser the console's end-to-end tests drive through Playwright (no browser download).
OS_PACKAGES=(python3.11-venv postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting postgresql-client-15
    glewlwyd python3-qgis qgis-providers wrk chromium fonts-dejavu-core
    mosquitto mosquitto-clients)
missing=()
for pkg in "${OS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing OS packages: ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a system cluster on 5432 when it installs postgresql; ours is separate and needs none.

# Debian's interpreter, not a per-user one (pyenv under /root): the unprivileged database user and, later,
# QGIS's python3-qgis must be able to run the same Python.
PYTHON="${HYPERVISEUR_PYTHON:-/usr/bin/python3.11}"
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
fi
stamp=.venv/.lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
    echo "bootstrap: syncing .venv with requirements.lock"
    .venv/bin/uv pip sync --quiet --python .venv/bin/python requirements.lock
    .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
    cp requirements.lock "$stamp"
fi

# The front end's locked npm packages (Node.js and npm come with the machine; registry: npmjs only).
npm_stamp=frontend/node_modules/.lock-stamp
if [ ! -f "$npm_stamp" ] || ! cmp -s frontend/package-lock.json "$npm_stamp"; then
    echo "bootstrap: installing frontend/package-lock.json"
    npm ci --prefix frontend --no-audit --no-fund --loglevel=error >/dev/null
    cp frontend/package-lock.json "$npm_stamp"
fi
