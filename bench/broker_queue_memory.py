"""What a stopped consumer costs the broker: Mosquitto's memory per queued QoS 1 message.

Starts Mosquitto with the project's configuration, opens ingest's kind of persistent session
(vigie-ingest, QoS 1, session expiry), disconnects it, and queues N messages for it, measuring
the broker's resident memory before and after. The peer figure is the naive estimate (payload +
topic bytes): the ratio says how much Mosquitto adds. docs/ingest.md, "Broker limits", derives
max_queued_messages / max_queued_bytes from it.

    .venv/bin/python bench/broker_queue_memory.py --messages 100000

prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from vigie.broker import MAX_QUEUED_BYTES, LocalBroker
from vigie.mqtt import connect_client, make_client, parse_mqtt_url

# The documented single reading (docs/mqtt.md), the common case.
READING = (
    b'{"seq": 1842, "ts": "2026-11-28T14:05:00Z", "tips": 3, "interval_s": 300,'
    b' "battery_v": 3.71, "rssi": -87, "fw": "1.4.2"}'
)
TOPIC = "vigie/v1/gauges/thourotte-mairie/up"
MAX_QUEUED_MESSAGES = 2_000_000  # as in vigie.broker.mosquitto_conf


def _publish(url: str, n: int, payload: bytes, window: int = 5000) -> None:
    address = parse_mqtt_url(url)
    client = make_client(address, "bench-queue-pub")
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_a: acked.release()
    connect_client(client, address)
    client.loop_start()
    try:
        for i in range(n):
            if i >= window:
                acked.acquire(timeout=30)
            client.publish(TOPIC, payload, qos=1)
        for _ in range(min(window, n)):
            acked.acquire(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


def queued_bytes_per_message(broker: LocalBroker, n: int, payload: bytes, session: str) -> float:
    """Resident bytes the broker grows by, per message queued for a stopped persistent session."""
    address = parse_mqtt_url(broker.url("vigie-ingest"))
    sub = make_client(address, session, manual_ack=True)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    connect_client(sub, address, session_expiry_s=3600)
    sub.loop_start()
    sub.subscribe("vigie/v1/gauges/+/up", qos=1)
    if not subscribed.wait(10):
        raise RuntimeError("no SUBACK")
    sub.disconnect()
    sub.loop_stop()
    assert broker.proc is not None
    proc = psutil.Process(broker.proc.pid)
    time.sleep(0.5)
    before = proc.memory_info().rss
    _publish(broker.url("vigie-simulator"), n, payload)
    time.sleep(1.0)
    return (proc.memory_info().rss - before) / n


def main() -> None:
    """Measure small (contract reading) and large (8 KiB) messages; print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="vigie-bench-queue-"))
    directory.chmod(0o755)
    broker = LocalBroker(directory, _free_port())
    broker.start()
    try:
        small = queued_bytes_per_message(broker, args.messages, READING, "bench-queue-small")
        large_payload = b"x" * 8192
        large_n = max(1000, args.messages // 20)
        large = queued_bytes_per_message(broker, large_n, large_payload, "bench-queue-large")
    finally:
        broker.stop()
    naive_small = len(READING) + len(TOPIC)
    result: dict[str, Any] = {
        "bench": "broker_queue_memory",
        "machine": f"{platform.node()}, {psutil.cpu_count()} cores",
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "messages": args.messages,
        "payload_bytes": len(READING),
        "topic_bytes": len(TOPIC),
        "rss_bytes_per_message": round(small),
        "naive_bytes_per_message": naive_small,
        "ratio_to_naive": round(small / naive_small, 2),
        "overhead_bytes_per_message": round(small - naive_small),
        "large_payload_bytes": len(large_payload),
        "large_messages": large_n,
        "large_rss_bytes_per_message": round(large),
        "memory_at_max_queued_messages_gb": round(small * MAX_QUEUED_MESSAGES / 1e9, 2),
        "max_queued_bytes": MAX_QUEUED_BYTES,
    }
    print(json.dumps(result))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
