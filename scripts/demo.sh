#!/usr/bin/env bash
# `make demo`: the whole system on simulated gauges and a simulated webcam, on this machine.
# Services are already started by `make services`; this runs Vigie itself with `vigie up`.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${VIGIE_STATE_DIR:-/var/lib/vigie}
BROKER_DIR=${VIGIE_BROKER_DIR:-$STATE/mosquitto}
PG_ADMIN=postgresql://postgres@127.0.0.1:${VIGIE_PG_PORT:-55432}/postgres
mkdir -p "$STATE"

# The demo's admin token, made once and kept (mode 0600).
if [ ! -f "$STATE/demo.env" ]; then
  umask 077
  echo "VIGIE_API__ADMIN_TOKEN=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))')" > "$STATE/demo.env"
fi
set -a
. "$STATE/demo.env"
VIGIE_DATABASE_URL=postgresql://postgres@127.0.0.1:${VIGIE_PG_PORT:-55432}/vigie
VIGIE_MQTT_URL=mqtt://127.0.0.1:${VIGIE_BROKER_PORT:-18830}
VIGIE_MQTT_CREDENTIALS_FILE=$BROKER_DIR/credentials.env
VIGIE_CAMERA__MEDIA_DIR=$STATE/media
set +a

.venv/bin/python - <<PY
import psycopg
with psycopg.connect("$PG_ADMIN", autocommit=True) as c:
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'vigie'").fetchone():
        c.execute("CREATE DATABASE vigie")
PY
.venv/bin/vigie migrate

# The simulated webcam: a 640x360 forest scene served as MJPEG; the first animal crosses ~15 s in.
WEBCAM_PORT=${VIGIE_DEMO_WEBCAM_PORT:-8554}
.venv/bin/vigie camera add demo-foret --url "http://127.0.0.1:$WEBCAM_PORT/stream" --kind mjpeg \
  --name "Lisière (webcam simulée)" --lat 49.478 --lon 2.917 --habitat forêt >/dev/null

API="http://127.0.0.1:8080"
cat <<MSG

  Vigie demo — the whole system on simulated gauges and a simulated webcam.

  API (token below):   $API/docs
  Stations:            curl -H "Authorization: Bearer \$VIGIE_API__ADMIN_TOKEN" $API/api/v1/stations
  Rain of a station:   curl -H "Authorization: Bearer \$VIGIE_API__ADMIN_TOKEN" "$API/api/v1/stations/<id>/rain?step=5min"
  Health / metrics:    $API/healthz   $API/metrics (token)
  Admin token:         $VIGIE_API__ADMIN_TOKEN   (also in $STATE/demo.env)
  Webcam (live):       http://127.0.0.1:$WEBCAM_PORT/stream
  Wildlife clips:      $VIGIE_CAMERA__MEDIA_DIR/demo-foret/   (first clip within a minute)
  Broker:              mqtt://127.0.0.1:${VIGIE_BROKER_PORT:-18830} (accounts in $BROKER_DIR/credentials.env)

  Ctrl-C stops everything.

MSG

exec .venv/bin/vigie up \
  --extra "simulate gauges --stations 16 --register --speed 60 --storm chicago --return-period 20" \
  --extra "simulate webcam --serve --port $WEBCAM_PORT --width 640 --height 360 --minutes 10 --seed 3"
