#!/usr/bin/env bash
# Start the project's own Mosquitto (the demo broker) on its own port with its own config:
# password file, ACL, no anonymous access, persistence. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${VIGIE_BROKER_DIR:-/var/lib/vigie/mosquitto}
PORT=${VIGIE_BROKER_PORT:-18830}
# The demo publishes through the simulator gateway; a real site asks only for what it has.
before=$(sha256sum 2>/dev/null < "$DIR/mosquitto.conf" || true)  # empty on a first run
.venv/bin/vigie broker init --directory "$DIR" --port "$PORT" --gateway vigie-simulator >/dev/null
if [ -f "$DIR/mosquitto.pid" ] && kill -0 "$(cat "$DIR/mosquitto.pid")" 2>/dev/null; then
  if [ "$before" = "$(sha256sum < "$DIR/mosquitto.conf")" ]; then
    # Re-read the password file and ACL in case they changed.
    kill -HUP "$(cat "$DIR/mosquitto.pid")"
    echo "[mosquitto] already running on 127.0.0.1:$PORT"
    exit 0
  fi
  # A new configuration (listeners, security layout) needs a restart, not a reload.
  pid=$(cat "$DIR/mosquitto.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "[mosquitto] configuration changed: restarting"
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
