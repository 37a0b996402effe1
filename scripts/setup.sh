#!/usr/bin/env bash
# Idempotent set-up of everything `make demo` and `make test` need on a fresh Debian 12/13 machine
# (as root): Debian packages, the venv with the locked dependencies, the project's TimescaleDB.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="mosquitto mosquitto-clients debootstrap python3-venv python3-dev ca-certificates"
missing=""
for p in $APT_PACKAGES ${EXTRA_APT_PACKAGES:-}; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] apt-get install$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
# Debian's package starts a broker on 1883 under systemd; ours runs on its own port and config.

PY=${PYTHON:-python3}
stamp=.venv/.vigie-lock-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "[setup] creating .venv from requirements.lock"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --require-hashes -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  rm -f .venv/.vigie-lock-*
  touch "$stamp"
fi
