"""Small real MQTT clients for tests: a publisher that waits for PUBACKs, a collecting subscriber."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from vigie.mqtt import connect_client, make_client, parse_mqtt_url


class Publisher:
    """QoS 1 publisher; publish() returns the broker's PUBACK reason code value."""

    def __init__(
        self,
        url: str,
        client_id: str | None = None,
        ca_file: Path | None = None,
        protocol: int = mqtt.MQTTv5,
        will: tuple[str, str] | None = None,
    ) -> None:
        """`will`: (topic, payload) of a Last Will, QoS 1 and retained as a gauge's status."""
        self.address = parse_mqtt_url(url, ca_file)
        self.disconnects: list[object] = []
        cid = client_id or f"test-pub-{uuid.uuid4().hex[:8]}"
        if protocol == mqtt.MQTTv5:
            self.client = make_client(self.address, cid)
        else:
            # make_client is MQTT 5 only; gauges with older stacks speak 3.1.1 (plain TCP here).
            assert not self.address.tls, "3.1.1 test publishers speak plain TCP"
            self.client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=cid,
                protocol=MQTTProtocolVersion(protocol),
            )
            self.client.username_pw_set(self.address.username, self.address.password)
        self._acks: dict[int, int] = {}
        self._cond = threading.Condition()
        self.client.on_publish = self._on_publish
        self._connack: object = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        if protocol == mqtt.MQTTv5:
            connect_client(self.client, self.address)
        else:
            self.client.connect(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        with self._cond:
            assert self._cond.wait_for(lambda: self._connack is not None, timeout=10), "no CONNACK"
        if getattr(self._connack, "is_failure", False):
            self.client.loop_stop()
            raise ConnectionRefusedError(f"broker refused the connection: {self._connack}")

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        with self._cond:
            self._connack = rc
            self._cond.notify_all()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        with self._cond:
            self.disconnects.append(rc)

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

    def publish_many(self, messages: list[tuple[str, str]], window: int = 1000) -> list[int]:
        """Publish QoS 1 messages with at most `window` unacknowledged; return the reason codes."""
        codes: list[int] = []
        pending: list[int] = []
        for topic, payload in messages:
            pending.append(self.client.publish(topic, payload, qos=1).mid)
            if len(pending) >= window:
                codes.extend(self._wait(pending))
                pending = []
        codes.extend(self._wait(pending))
        return codes

    def _wait(self, mids: list[int]) -> list[int]:
        with self._cond:
            ok = self._cond.wait_for(lambda: all(m in self._acks for m in mids), timeout=60)
            assert ok, "PUBACKs missing after 60 s"
            return [self._acks.pop(m) for m in mids]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # paho closes its wake-up socket pair only in Client.__del__; the callbacks make the
        # client and this publisher a cycle, and when the collector finalises the sockets first
        # they warn (ResourceWarning, an error under filterwarnings). Close them now.
        self.client._reset_sockets()


@contextmanager
def publisher(url: str, protocol: int = mqtt.MQTTv5) -> Iterator[Publisher]:
    """A connected Publisher (MQTT 5 unless told), closed afterwards."""
    pub = Publisher(url, protocol=protocol)
    try:
        yield pub
    finally:
        pub.close()
