#!/usr/bin/env bash
# MicroPython for the firmware's tests and bench (tests/firmware/, bench/firmware.py), idempotent.
# Debian 13 ships `micropython` (the Unix port, 1.25): on Debian 13+ it is installed on the host;
# on Debian 12 it goes into the Debian 13 root that scripts/timescaledb.sh builds, and runs there
# through chroot (the root shares the host's network, so it reaches the test Mosquitto).
# umqtt.simple comes from PyPI's micropython-umqtt.simple sdist, pinned by version and by the
# sha256 of the one file we use; it is vendored into .cache/micropython/lib at set-up time only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${VIGIE_PG_ROOT:-/var/lib/vigie/trixie}
LIB=.cache/micropython/lib
UMQTT_VERSION=1.3.4
UMQTT_SHA256=8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5
log() { echo "[micropython] $*"; }

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = "trixie" ] || [ "$codename" = "forky" ]; then
  if ! command -v micropython >/dev/null; then
    log "apt-get install micropython"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq micropython >/dev/null
  fi
else
  if [ ! -x "$ROOT/usr/bin/micropython" ]; then
    [ -d "$ROOT/usr" ] || bash scripts/timescaledb.sh  # builds the Debian 13 root
    log "installing micropython into $ROOT"
    chroot "$ROOT" apt-get update -qq
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq micropython >/dev/null
  fi
fi

if ! echo "$UMQTT_SHA256  $LIB/umqtt/simple.py" | sha256sum -c --status 2>/dev/null; then
  log "vendoring umqtt.simple $UMQTT_VERSION from PyPI into $LIB"
  # The sdist has neither setup.py nor pyproject.toml, so pip cannot build it: --no-clean keeps
  # the unpacked source pip downloaded, from which we take umqtt/simple.py.
  work=$(mktemp -d)
  py=.venv/bin/python; [ -x "$py" ] || py=python3
  TMPDIR=$work "$py" -m pip download -q --no-deps --no-clean \
    "micropython-umqtt.simple==$UMQTT_VERSION" -d "$work/dl" >/dev/null 2>&1 || true
  src=$(find "$work" -path '*umqtt/simple.py' | head -n1)
  [ -n "$src" ] || { echo "[micropython] umqtt.simple $UMQTT_VERSION: download failed" >&2; exit 1; }
  echo "$UMQTT_SHA256  $src" | sha256sum -c --status \
    || { echo "[micropython] umqtt/simple.py: unexpected sha256" >&2; exit 1; }
  mkdir -p "$LIB/umqtt"
  cp "$src" "$LIB/umqtt/simple.py"
  : > "$LIB/umqtt/__init__.py"
  rm -rf "$work"
fi

# MicroPython's ESP32 stubs, to type-check the board layer (firmware/gauge/hal_esp32.py) with
# mypy: pinned, into a directory of their own (they shadow the standard library's stubs).
STUBS=.cache/micropython/esp32-stubs
STUBS_PINS="micropython-esp32-stubs==1.25.0.post5 micropython-stdlib-stubs==1.29.0.post2"
if [ "$(cat "$STUBS/.pins" 2>/dev/null)" != "$STUBS_PINS" ]; then
  log "installing $STUBS_PINS into $STUBS"
  rm -rf "$STUBS"
  py=.venv/bin/python; [ -x "$py" ] || py=python3
  # shellcheck disable=SC2086
  "$py" -m pip install -q --no-deps --target "$STUBS" $STUBS_PINS 2>&1 | grep -v "^WARNING: Location" || true
  [ -f "$STUBS/machine.pyi" ] || { echo "[micropython] ESP32 stubs: install failed" >&2; exit 1; }
  echo "$STUBS_PINS" > "$STUBS/.pins"
fi
