"""Publishing the simulated fleet: paho-mqtt 2 on MQTT 5, QoS 1.

By default one connection as the `vigie-simulator` gateway account (like a LoRaWAN network
server publishing for many gauges); or one connection per device with its own account and a
Last Will on its status topic, like the real firmware.

paho gives each unacknowledged QoS 1 message a 16-bit id and fails with ERR_QUEUE_SIZE past
65,535 of them, so publish() waits for PUBACKs before the outstanding count gets there.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from simulators.gauges.errors import PublishError
from simulators.gauges.model import Message
from vigie.mqtt import BrokerAddress, connect_client, gauge_topic, make_client

log = logging.getLogger("vigie.simulate.gauges")

# Below 65,535 message ids, with margin for paho's own retries.
MAX_OUTSTANDING = 60_000
DEFAULT_WINDOW = 20_000
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK reason code


@dataclass
class PublishStats:
    """What the broker said about our messages."""

    sent: int = 0
    acked: int = 0
    refused: int = 0
    refused_topics: dict[str, int] = field(default_factory=dict)
    # PUBACK 0x10: accepted (not a failure code) but delivered to nobody, i.e. dropped. After a
    # broker restart mosquitto 2.0 has no shared subscription (a scaled-out ingest's) until the
    # workers subscribe again; a lone ingest's plain subscription is restored (docs/ingest.md).
    no_subscriber: int = 0


class Connection:
    """One paho client: QoS 1 publish with a bounded number of unacknowledged messages."""

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        *,
        max_outstanding: int = DEFAULT_WINDOW,
        will_topic: str | None = None,
        session_expiry_s: int = 600,
    ) -> None:
        if not 1 <= max_outstanding <= MAX_OUTSTANDING:
            raise PublishError(f"max_outstanding must be 1 to {MAX_OUTSTANDING}")
        self.address = address
        self.max_outstanding = max_outstanding
        self.session_expiry_s = session_expiry_s
        self.stats = PublishStats()
        self.client = make_client(address, client_id)
        # No paho-side in-flight limit: with one, paho rescans its whole queue on every PUBACK
        # (quadratic); our own window below keeps the message ids from running out instead.
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        if will_topic is not None:
            # The broker publishes this when the device vanishes without a DISCONNECT.
            self.client.will_set(will_topic, b"offline", qos=1, retain=True)
        self._cond = threading.Condition()
        self._inflight = 0
        self._topics: dict[int, str] = {}  # mid → topic, until its PUBACK
        self._early: dict[int, ReasonCode] = {}
        self._connected = threading.Event()
        self._connect_rc: ReasonCode | None = None
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish

    # paho callbacks: record and notify, never block.
    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self._connect_rc = rc
        self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._cond:
            self._inflight -= 1
            self.stats.acked += 1
            topic = self._topics.pop(mid, None)
            if topic is None:
                # The PUBACK beat publish() to recording the mid; publish() settles it.
                self._early[mid] = rc
            else:
                self._settle(topic, rc)
            self._cond.notify_all()

    def _settle(self, topic: str, rc: ReasonCode) -> None:
        if rc.is_failure:
            self.stats.refused += 1
            self.stats.refused_topics[topic] = self.stats.refused_topics.get(topic, 0) + 1
        elif rc.value == NO_MATCHING_SUBSCRIBERS:
            self.stats.no_subscriber += 1
            # Said in the log: the ground truth counts such a reading as sent, the database
            # will not have it.
            n = self.stats.no_subscriber
            if n <= 20 or n % 1000 == 0:
                log.warning("message %d delivered to no subscriber (dropped by the broker) on %s", n, topic)

    def start(self, timeout: float = 10.0) -> None:
        """Connect and wait for the CONNACK; PublishError if refused or silent."""
        try:
            connect_client(self.client, self.address, session_expiry_s=self.session_expiry_s)
        except OSError as exc:
            raise PublishError(f"cannot reach the broker at {self.address!r}: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise PublishError(f"no CONNACK from {self.address!r} within {timeout} s")
        if self._connect_rc is not None and self._connect_rc.is_failure:
            self.close()
            raise PublishError(f"broker refused the connection: {self._connect_rc}")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, timeout: float = 60.0) -> None:
        """Publish at QoS 1; wait first while MAX_OUTSTANDING messages are unacknowledged."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._inflight < self.max_outstanding, timeout):
                raise PublishError(f"no PUBACK for {self.max_outstanding} messages in {timeout} s")
            self._inflight += 1
            self.stats.sent += 1
        # Not under our lock: paho calls on_publish while holding its own message lock, which
        # client.publish() also takes, so holding ours here would deadlock.
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._cond:
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self._inflight -= 1
                raise PublishError(f"paho refused to queue a message: {mqtt.error_string(info.rc)}")
            early = self._early.pop(info.mid, None)
            if early is None:
                self._topics[info.mid] = topic
            else:
                self._settle(topic, early)

    def wait_acked(self, timeout: float = 60.0) -> bool:
        """Wait until every message published so far is acknowledged."""
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    def close(self) -> None:
        """Disconnect cleanly (no Last Will) and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


class Publisher(Protocol):
    """Where simulated messages go."""

    def publish(self, message: Message) -> None:
        """Send one message."""
        ...

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait for every PUBACK; False on timeout."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...

    @property
    def stats(self) -> PublishStats:
        """Counts over every connection."""
        ...


class GatewayPublisher:
    """Every station's messages through one connection (the `vigie-simulator` account)."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        root: str = "vigie/v1",
        client_id: str | None = None,
        max_outstanding: int = DEFAULT_WINDOW,
    ) -> None:
        self.root = root
        self.conn = Connection(
            address,
            client_id or f"vigie-simulator-{uuid.uuid4().hex[:8]}",
            max_outstanding=max_outstanding,
        )
        self.conn.start()

    def publish(self, message: Message) -> None:
        """Send one message on its station's topic."""
        topic = gauge_topic(self.root, message.station, message.kind)
        self.conn.publish(topic, message.payload, retain=message.retain)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait for every PUBACK."""
        return self.conn.wait_acked(timeout)

    def close(self) -> None:
        """Disconnect."""
        self.conn.close()

    @property
    def stats(self) -> PublishStats:
        """The connection's counts."""
        return self.conn.stats


class DevicePublisher:
    """One connection per station, as its own account, with a Last Will on its status."""

    def __init__(
        self, address: BrokerAddress, passwords: Mapping[str, str], *, root: str = "vigie/v1"
    ) -> None:
        self.root = root
        self.address = address
        self.passwords = passwords
        self.conns: dict[str, Connection] = {}

    def _conn(self, station: str) -> Connection:
        conn = self.conns.get(station)
        if conn is None:
            password = self.passwords.get(station)
            if password is None:
                raise PublishError(f"no broker password for station {station!r}")
            conn = Connection(
                self.address.with_credentials(station, password),
                f"gauge-{station}"[:64],
                max_outstanding=1_000,
                will_topic=gauge_topic(self.root, station, "status"),
            )
            conn.start()
            self.conns[station] = conn
            # What the firmware does right after connecting (its will says the opposite).
            conn.publish(gauge_topic(self.root, station, "status"), b"online", retain=True)
        return conn

    def publish(self, message: Message) -> None:
        """Send one message through the station's own connection."""
        topic = gauge_topic(self.root, message.station, message.kind)
        self._conn(message.station).publish(topic, message.payload, retain=message.retain)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait for every connection's PUBACKs."""
        deadline = time.monotonic() + timeout
        return all(c.wait_acked(max(0.0, deadline - time.monotonic())) for c in self.conns.values())

    def close(self) -> None:
        """Disconnect every device cleanly."""
        for conn in self.conns.values():
            conn.close()

    @property
    def stats(self) -> PublishStats:
        """Counts summed over the devices."""
        total = PublishStats()
        for conn in self.conns.values():
            total.sent += conn.stats.sent
            total.acked += conn.stats.acked
            total.refused += conn.stats.refused
            total.no_subscriber += conn.stats.no_subscriber
            for topic, n in conn.stats.refused_topics.items():
                total.refused_topics[topic] = total.refused_topics.get(topic, 0) + n
        return total
