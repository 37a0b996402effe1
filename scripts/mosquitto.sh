#!/usr/bin/env bash
# Start the project's own Mosquitto (the demo broker) on its own port with its own config:
# password file, ACL, no anonymous access, persistence. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${VIGIE_BROKER_DIR:-/var/lib/vigie/mosquitto}
PORT=${VIGIE_BROKER_PORT:-18830}
# The demo publishes through the simulator gateway; a real site asks only for what it has.
.venv/bin/vigie broker init --directory "$DIR" --port "$PORT" --gateway vigie-simulator >/dev/null
if [ -f "$DIR/mosquitto.pid" ] && kill -0 "$(cat "$DIR/mosquitto.pid")" 2>/dev/null; then
  # Re-read the password file and ACL in case they changed.
  kill -HUP "$(cat "$DIR/mosquitto.pid")"
  echo "[mosquitto] already running on 127.0.0.1:$PORT"
  exit 0
fi
mosquitto -c "$DIR/mosquitto.conf" >>"$DIR/mosquitto.log" 2>&1 &
echo $! > "$DIR/mosquitto.pid"
for _ in $(seq 1 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "[mosquitto] started on 127.0.0.1:$PORT (config in $DIR)"
    exit 0
  fi
  sleep 0.1
done
echo "[mosquitto] did not start; see $DIR/mosquitto.log" >&2
exit 1
