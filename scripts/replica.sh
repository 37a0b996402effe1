#!/usr/bin/env bash
# A streaming read replica of the project's TimescaleDB (scripts/timescaledb.sh), idempotently:
# a second PostgreSQL 17 + timescaledb from the same Debian 13 root, on its own port and data
# directory, made once by pg_basebackup and kept current by streaming replication through a
# physical replication slot on the primary. The API reads from it with
# VIGIE_API__READ_DATABASE_URL (docs/operations.md, "Read replica").
set -euo pipefail

# Usage: replica.sh [start|stop|drop|status]   (start is the default)
#   start   make the replica if its data directory is empty (pg_basebackup), then start it
#   stop    stop it (the slot keeps the primary's WAL for it: do not leave it stopped for days)
#   drop    stop it, delete its data directory and drop its slot on the primary
#   status  the primary's view of it (pg_stat_replication) and its replay delay
# VIGIE_PG_PORT: the primary's port (55432); VIGIE_REPLICA_PORT: the replica's (55433);
# VIGIE_REPLICA_DATA: its data directory, a path inside the root (/var/lib/vigie-pg/replica-17).
ACTION=${1:-start}
ROOT=${VIGIE_PG_ROOT:-/var/lib/vigie/trixie}
PRIMARY_PORT=${VIGIE_PG_PORT:-55432}
PORT=${VIGIE_REPLICA_PORT:-55433}
DATA=${VIGIE_REPLICA_DATA:-/var/lib/vigie-pg/replica-17}
LOG=$DATA.log
# One slot per replica port, so that two replicas of one primary never share one.
case "$DATA" in /var/*/*) ;; *) echo "[replica] VIGIE_REPLICA_DATA must be a directory under /var: $DATA"; exit 2 ;; esac
SLOT=vigie_replica_$PORT
BIN=/usr/lib/postgresql/17/bin

log() { echo "[replica] $*"; }

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = "trixie" ] || [ "$codename" = "forky" ]; then
  ROOT=/
fi
[ -x "$ROOT$BIN/postgres" ] || { log "no PostgreSQL 17 in $ROOT: run scripts/timescaledb.sh first"; exit 1; }

in_root() { chroot "$ROOT" su postgres -s /bin/sh -c "$*"; }
# The primary, as the postgres superuser over its Unix socket (trusted there, replication too:
# see pg_hba.conf in scripts/timescaledb.sh); the socket is in the root's /tmp.
primary_sql() { in_root "$BIN/psql -h /tmp -p $PRIMARY_PORT -U postgres -d postgres -Atqc \"$1\""; }

running() { in_root "$BIN/pg_ctl -D $DATA status" >/dev/null 2>&1; }

case "$ACTION" in
  stop)
    in_root "$BIN/pg_ctl -D $DATA -m fast -w stop" >/dev/null 2>&1 || true
    log "stopped ($DATA)"
    exit 0
    ;;
  drop)
    in_root "$BIN/pg_ctl -D $DATA -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "${ROOT%/}$DATA" "${ROOT%/}$LOG"
    primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null || true
    log "dropped $DATA and slot $SLOT"
    exit 0
    ;;
  status)
    primary_sql "SELECT application_name, state, sync_state, replay_lag FROM pg_stat_replication WHERE application_name = '$SLOT'"
    in_root "$BIN/psql -h /tmp -p $PORT -U postgres -d postgres -Atqc 'SELECT pg_is_in_recovery(), now() - pg_last_xact_replay_timestamp()'"
    exit 0
    ;;
  start) ;;
  *) log "unknown action $ACTION (start, stop, drop, status)"; exit 2 ;;
esac

if [ ! -f "${ROOT%/}$DATA/PG_VERSION" ]; then
  in_root "$BIN/pg_isready -h /tmp -p $PRIMARY_PORT" >/dev/null || { log "primary not running on port $PRIMARY_PORT"; exit 1; }
  log "pg_basebackup of the primary (port $PRIMARY_PORT) into $ROOT$DATA"
  mkdir -p "${ROOT%/}$(dirname "$DATA")"
  rm -rf "${ROOT%/}$DATA"
  # A slot left by an earlier replica of this port would hold WAL from long ago: start afresh.
  primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
  chroot "$ROOT" chown postgres:postgres "$(dirname "$DATA")"
  # -R: standby.signal and primary_conninfo; -C -S: the slot, so the primary keeps the WAL the
  # replica has not received yet; -X stream: the WAL of the copy itself, streamed beside it.
  in_root "$BIN/pg_basebackup -h /tmp -p $PRIMARY_PORT -U postgres -D $DATA -R -X stream -C -S $SLOT -c fast --no-password"
  # The copy has the primary's postgresql.conf (its port among it): the last setting wins.
  cat >> "${ROOT%/}$DATA/postgresql.conf" <<CONF
# Vigie read replica (scripts/replica.sh)
port = $PORT
hot_standby = on
# Long reads on the replica (exports) are not cancelled by the replay of vacuum on the primary;
# the primary keeps the rows they still see instead.
hot_standby_feedback = on
CONF
  # The walreceiver names itself after the slot in the primary's pg_stat_replication.
  sed -i "s/^primary_conninfo = '/primary_conninfo = 'application_name=$SLOT /" "${ROOT%/}$DATA/postgresql.auto.conf"
fi

if running; then
  log "already running on 127.0.0.1:$PORT"
else
  rm -f "${ROOT%/}$DATA/postmaster.pid"
  in_root "$BIN/pg_ctl -D $DATA -l $LOG -w -t 60 start" >/dev/null
  log "started on 127.0.0.1:$PORT, streaming from port $PRIMARY_PORT"
fi

for _ in $(seq 1 60); do
  if in_root "$BIN/pg_isready -h 127.0.0.1 -p $PORT" >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
log "replica did not become ready; see $ROOT$LOG"
exit 1
