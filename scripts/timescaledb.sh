#!/usr/bin/env bash
# Start the project's own TimescaleDB (PostgreSQL 17 + timescaledb, Apache edition) on its own
# port, idempotently. Debian 13 has the package; on Debian 12 we build a Debian 13 root once with
# debootstrap (outside the checkout) and run the server inside it with chroot. No Docker needed.
set -euo pipefail

# Usage: timescaledb.sh [start|stop]   (start is the default)
# VIGIE_PG_PORT and VIGIE_PG_DATA (a path inside the root) let tests run a private server.
ACTION=${1:-start}
ROOT=${VIGIE_PG_ROOT:-/var/lib/vigie/trixie}
PORT=${VIGIE_PG_PORT:-55432}
DATA=${VIGIE_PG_DATA:-/var/lib/vigie-pg/17}
LOG=$DATA.log

log() { echo "[timescaledb] $*"; }

debian_mirror() {
  # Reuse the mirror that apt already uses on this machine: the only one we may reach.
  local m
  m=$(grep -hoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)
  [ -n "$m" ] || m=$(grep -hoE '^deb\s+(\[[^]]*\]\s+)?\S+' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $NF}' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

if [ "$codename" = "trixie" ] || [ "$codename" = "forky" ]; then
  # Debian 13+: the packaged server runs directly; "chroot /" keeps one code path below.
  if ! dpkg -s postgresql-17-timescaledb >/dev/null 2>&1; then
    log "installing postgresql-17-timescaledb"
    apt-get install -y -qq postgresql-17-timescaledb >/dev/null
  fi
  ROOT=/
else
  if [ ! -x "$ROOT/usr/lib/postgresql/17/bin/postgres" ] || [ ! -e "$ROOT/usr/share/postgresql/17/extension/timescaledb.control" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
    mirror=$(debian_mirror)
    log "building a Debian 13 root in $ROOT from $mirror (once, ~1 min)"
    rm -rf "$ROOT.partial"
    mkdir -p "$(dirname "$ROOT")"
    debootstrap --variant=minbase --include=postgresql-17-timescaledb trixie "$ROOT.partial" "$mirror" >/dev/null
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
  fi
fi

# MicroPython for the firmware's tests goes into the same Debian 13 root (or on a Debian 13 host).
[ "$ACTION" = "stop" ] || VIGIE_PG_ROOT="$ROOT" bash "$(dirname "$0")/micropython.sh"

in_root() { chroot "$ROOT" su postgres -s /bin/sh -c "$*"; }

if [ "$ACTION" = "stop" ]; then
  in_root "/usr/lib/postgresql/17/bin/pg_ctl -D $DATA -m fast -w stop" >/dev/null 2>&1 || true
  log "stopped ($DATA)"
  exit 0
fi

if [ ! -f "$ROOT$DATA/PG_VERSION" ]; then
  log "initdb in $ROOT$DATA"
  mkdir -p "$ROOT$DATA"
  chroot "$ROOT" chown -R postgres:postgres "$(dirname "$DATA")"
  in_root "/usr/lib/postgresql/17/bin/initdb -D $DATA -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8" >/dev/null
  cat >> "$ROOT$DATA/postgresql.conf" <<CONF
# Vigie
shared_preload_libraries = 'timescaledb'
listen_addresses = '127.0.0.1'
port = $PORT
dynamic_shared_memory_type = mmap
unix_socket_directories = '/tmp'
max_connections = 200
timescaledb.telemetry_level = off
fsync = on
synchronous_commit = on
CONF
fi

if in_root "/usr/lib/postgresql/17/bin/pg_ctl -D $DATA status" >/dev/null 2>&1; then
  log "already running on 127.0.0.1:$PORT"
else
  # A crash can leave a stale pid file that blocks the start.
  rm -f "$ROOT$DATA/postmaster.pid"
  in_root "/usr/lib/postgresql/17/bin/pg_ctl -D $DATA -l $LOG -w -t 60 start" >/dev/null
  log "started on 127.0.0.1:$PORT"
fi

for _ in $(seq 1 60); do
  if in_root "/usr/lib/postgresql/17/bin/pg_isready -h 127.0.0.1 -p $PORT" >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
log "server did not become ready; see $ROOT$LOG"
exit 1
