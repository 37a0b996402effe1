"""Publisher ceiling: K single-reading QoS 1 messages for S stations, as fast as paho goes.

No ingest involved: this measures the simulated fleet's side only (the broker acknowledges
each message). Importable by bench/ingest.py (`publish_rate`), or run alone:

    .venv/bin/python bench/ingest_publish.py --stations 500 --per-station 200

which starts its own Mosquitto with the project's configuration and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simulators.gauges.model import SentReading, encode, reading_fields
from simulators.gauges.publisher import DEFAULT_WINDOW, Connection
from vigie.broker import LocalBroker
from vigie.mqtt import gauge_topic, parse_mqtt_url


def messages(
    n_stations: int, per_station: int, start: datetime, interval_s: int = 60
) -> list[tuple[str, bytes]]:
    """Contract payloads (docs/mqtt.md), one reading each, station by station per interval."""
    ids = [f"bench-pub-{i:04d}" for i in range(n_stations)]
    t0 = int(start.timestamp())
    out = []
    for k in range(per_station):
        for sid in ids:
            r = SentReading(t0 + k * interval_s, k % 3, k, interval_s)
            body = encode(reading_fields(r, battery_v=3.9, rssi=-90, fw="bench"))
            out.append((gauge_topic("vigie/v1", sid), body))
    return out


def publish_rate(
    url: str, n_stations: int, per_station: int, *, window: int = DEFAULT_WINDOW
) -> dict[str, Any]:
    """Publish n_stations * per_station messages at QoS 1; return count, seconds and rate."""
    msgs = messages(n_stations, per_station, datetime.now(UTC) - timedelta(days=2))
    conn = Connection(parse_mqtt_url(url), f"bench-pub-{uuid.uuid4().hex[:6]}", max_outstanding=window)
    conn.start()
    try:
        started = time.monotonic()
        for topic, body in msgs:
            conn.publish(topic, body)
        if not conn.wait_acked(120):
            raise RuntimeError("PUBACKs missing after 120 s")
        seconds = time.monotonic() - started
    finally:
        conn.close()
    return {
        "messages": len(msgs),
        "seconds": round(seconds, 3),
        "publish_per_s": round(len(msgs) / seconds),
        "refused": conn.stats.refused,
        "acked": conn.stats.acked,
    }


def main() -> None:
    """Run against a fresh local broker and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--per-station", type=int, default=200)
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigie-bench-pub-") as tmp:
        directory = Path(tmp)
        directory.chmod(0o755)
        broker = LocalBroker(directory, _free_port(), gateways=("vigie-simulator",))
        broker.start()
        try:
            result = publish_rate(
                broker.url("vigie-simulator"), args.stations, args.per_station, window=args.window
            )
        finally:
            broker.stop()
    result.update(
        benchmark="ingest_publish",
        stations=args.stations,
        window=args.window,
        machine=f"{platform.node()} {platform.machine()}",
        date=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    print(json.dumps(result))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
