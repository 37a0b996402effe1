#!/usr/bin/env bash
# Debian 13's Mosquitto beside Debian 12's, for tests/shared/test_broker_versions.py: a site on
# Debian 13, or on the eclipse-mosquitto:2 image, runs a 2.0.2x broker, whose behaviour differs.
# On Debian 12 it goes into the Debian 13 root that scripts/timescaledb.sh builds (which calls
# this), and scripts/mosquitto-debian13 runs it from there. On Debian 13+ the host's is that one.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${VIGIE_PG_ROOT:-/var/lib/vigie/trixie}
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = "trixie" ] || [ "$codename" = "forky" ]; then
  exit 0
fi
if [ ! -x "$ROOT/usr/sbin/mosquitto" ]; then
  echo "[mosquitto] installing Debian 13's mosquitto into $ROOT"
  chroot "$ROOT" apt-get update -qq
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mosquitto >/dev/null 2>&1
fi
# The link through which scripts/mosquitto-debian13 calls the root's loader (so the process is
# named mosquitto).
mkdir -p "$ROOT/opt/vigie-mosquitto"
ln -sfn "$ROOT/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$ROOT/opt/vigie-mosquitto/mosquitto"
