#!/usr/bin/env bash
# `make demo`: the whole system on simulated gauges and a simulated webcam, on this machine.
# Services are already started by `make services`; this runs Vigie itself with `vigie up`.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${VIGIE_STATE_DIR:-/var/lib/vigie}
BROKER_DIR=${VIGIE_BROKER_DIR:-$STATE/mosquitto}
PG_ADMIN=postgresql://postgres@127.0.0.1:${VIGIE_PG_PORT:-55432}/postgres
mkdir -p "$STATE"

set -a
# The migration login (postgres, trusted on loopback); the services log in as their own roles
# with the passwords that `vigie db roles` keeps in db-credentials.env (docs/security.md).
VIGIE_DATABASE_URL=postgresql://postgres@127.0.0.1:${VIGIE_PG_PORT:-55432}/vigie
VIGIE_DATABASE_CREDENTIALS_FILE=$STATE/db-credentials.env
VIGIE_MQTT_URL=mqtt://127.0.0.1:${VIGIE_BROKER_PORT:-18830}
VIGIE_MQTT_CREDENTIALS_FILE=$BROKER_DIR/credentials.env
# `vigie stations add/rotate-password/retire` manage device accounts there.
VIGIE_BROKER__DIRECTORY=$BROKER_DIR
# The demo's SMTP/SMS sinks and simulated webcam listen on loopback, which Vigie refuses for
# admin-written destinations unless allowed (docs/security.md). A real site leaves this unset.
VIGIE_OUTBOUND__ALLOW_PRIVATE=true
VIGIE_CAMERA__MEDIA_DIR=$STATE/media
set +a

.venv/bin/python - <<PY
import psycopg
with psycopg.connect("$PG_ADMIN", autocommit=True) as c:
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'vigie'").fetchone():
        c.execute("CREATE DATABASE vigie")
PY
.venv/bin/vigie migrate
.venv/bin/vigie db roles

# The demo's admin account (every role) and an API token for curl, made once and kept in
# demo.env (mode 0600); made again if the database was reset.
has_admin() { .venv/bin/vigie users list | cut -f1 | grep -qx admin; }
if [ ! -f "$STATE/demo.env" ] || ! has_admin; then
  umask 077
  if has_admin; then
    # The account is there but demo.env was lost: a one-time password (changed at sign-in).
    DEMO_PASSWORD=$(.venv/bin/vigie users reset-password admin 2>/dev/null)
  else
    DEMO_PASSWORD=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')
    echo "$DEMO_PASSWORD" | .venv/bin/vigie users create admin --name "Administrateur (démo)" \
      --role admin --role technician --role duty --role naturalist --role viewer --password-stdin
  fi
  DEMO_TOKEN=$(.venv/bin/vigie tokens create --user admin --name "démo (curl)" \
    --role admin --role technician --role duty --days 30 2>/dev/null)
  printf 'VIGIE_DEMO_ADMIN_PASSWORD=%s\nVIGIE_DEMO_TOKEN=%s\n' "$DEMO_PASSWORD" "$DEMO_TOKEN" > "$STATE/demo.env"
  umask 022
fi
. "$STATE/demo.env"

# Local SMTP and SMS sinks stand in for the mail server and the SMS provider; two demo
# subscribers (the crisis cell: whole territory, e-mail + SMS; a resident of Thourotte: SMS from
# orange) receive the alerts there. Made once; edit them through the API.
SMTP_PORT=${VIGIE_DEMO_SMTP_PORT:-2525}
SMS_PORT=${VIGIE_DEMO_SMS_PORT:-8025}
SINKS_LOG=$STATE/sinks.jsonl
.venv/bin/python - <<PY
import json, psycopg
mail = "mailto://127.0.0.1:$SMTP_PORT?from=vigie%40deux-vallees.example&to=cellule-crise%40deux-vallees.example&mode=insecure"
sms = "smseagle://sink-token@127.0.0.1:$SMS_PORT/"
demo = [
    ("Cellule de crise (démo)", [], "yellow",
     [{"kind": "email", "url": mail}, {"kind": "sms", "url": sms + "%2B33600000001"}]),
    ("Habitant de Thourotte (démo)", ["60636"], "orange", [{"kind": "sms", "url": sms + "%2B33600000002"}]),
]
with psycopg.connect("$VIGIE_DATABASE_URL", autocommit=True) as c:
    for name, communes, level, channels in demo:
        if not c.execute("SELECT 1 FROM subscribers WHERE name = %s", (name,)).fetchone():
            c.execute("INSERT INTO subscribers (name, communes, min_level, channels) VALUES (%s, %s, %s, %s)",
                      (name, communes, level, json.dumps(channels)))
PY

# The gauges replay the last hour at 60x, with a 15-min storm (50-year return period) that began
# 58 min ago: incidents open within a minute of the start, and de-escalate and end (with an
# end-of-alert message) some 10-20 min later as the storm leaves the 1 h window.

# The simulated webcam: a 640x360 forest scene served as MJPEG; the first animal crosses ~15 s in.
WEBCAM_PORT=${VIGIE_DEMO_WEBCAM_PORT:-8554}
.venv/bin/vigie camera add demo-foret --url "http://127.0.0.1:$WEBCAM_PORT/stream" --kind mjpeg \
  --name "Lisière (webcam simulée)" --lat 49.478 --lon 2.917 --habitat forêt >/dev/null

API="http://127.0.0.1:8080"
cat <<MSG

  Vigie demo — the whole system on simulated gauges and a simulated webcam.

  Web app:             $API/   sign in as admin / $VIGIE_DEMO_ADMIN_PASSWORD
  API (OpenAPI):       $API/docs (Swagger UI)   $API/openapi.json   API token: $VIGIE_DEMO_TOKEN
  Stations:            curl -H "Authorization: Bearer \$VIGIE_DEMO_TOKEN" $API/api/v1/stations
  Rain of a station:   curl -H "Authorization: Bearer \$VIGIE_DEMO_TOKEN" "$API/api/v1/stations/<id>/rain?step=5min"
  Health / metrics:    $API/healthz   $API/metrics (token)
  Password and token:  in $STATE/demo.env
  Webcam (live):       http://127.0.0.1:$WEBCAM_PORT/stream
  Wildlife clips:      $VIGIE_CAMERA__MEDIA_DIR/demo-foret/   (first clip within a minute)
  Alerts (incidents):  $API/api/v1/incidents        CAP feed: $API/api/v1/alerts/cap.atom
  SMS and e-mails:     printed below as they arrive (SMS -> / E-mail ->), and kept in $SINKS_LOG
                       (a storm is replayed: alerts within a minute, ends ~10-20 min later)
  Broker:              mqtt://127.0.0.1:${VIGIE_BROKER_PORT:-18830} services (accounts in $BROKER_DIR/credentials.env)
                       mqtt://127.0.0.1:$(( ${VIGIE_BROKER_PORT:-18830} + 1 )) gauges (vigie stations add <id> …)
  Database logins:     one per service, passwords in $VIGIE_DATABASE_CREDENTIALS_FILE

  Ctrl-C stops everything.

MSG

exec .venv/bin/vigie up \
  --extra "simulate gauges --stations 16 --register --speed 60 --storm chicago --return-period 50 --storm-at -58 --storm-duration-min 15" \
  --extra "simulate sinks --smtp-port $SMTP_PORT --sms-port $SMS_PORT --log $SINKS_LOG" \
  --extra "simulate webcam --serve --port $WEBCAM_PORT --width 640 --height 360 --minutes 10 --seed 3"
