"""Small real MQTT clients for tests: a publisher that waits for PUBACKs, a collecting subscriber."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt

from vigie.mqtt import connect_client, make_client, parse_mqtt_url


class Publisher:
    """QoS 1 publisher; publish() returns the broker's PUBACK reason code value."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        self.address = parse_mqtt_url(url)
        self.client = make_client(self.address, client_id or f"test-pub-{uuid.uuid4().hex[:8]}")
        self._acks: dict[int, int] = {}
        self._cond = threading.Condition()
        self.client.on_publish = self._on_publish
        connect_client(self.client, self.address)
        self.client.loop_start()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: object, _p: object) -> None:
        with self._cond:
            self._acks[mid] = int(getattr(rc, "value", 0))
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return 0
        with self._cond:
            ok = self._cond.wait_for(lambda: info.mid in self._acks, timeout=10)
            assert ok, "no PUBACK within 10 s"
            return self._acks.pop(info.mid)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def publisher(url: str) -> Iterator[Publisher]:
    """A connected Publisher, closed afterwards."""
    pub = Publisher(url)
    try:
        yield pub
    finally:
        pub.close()
