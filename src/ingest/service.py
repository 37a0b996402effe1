"""The ingest service: MQTT in (persistent session, plain or shared subscription, manual QoS 1 acks),
batched idempotent writes out, acknowledgement only after the batch is committed."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.reasoncodes import ReasonCode

from ingest.flood import FloodGate
from ingest.parse import Parsed, internal_error, parse_message
from ingest.refusals import write_splitting
from ingest.writer import prepare
from vigie.db import APP_INGEST, close_quietly, connect
from vigie.heartbeat import HeartbeatReporter
from vigie.mqtt import BrokerAddress, NetworkProbe, connect_client, make_client
from vigie.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """A parsed message waiting for its batch to commit; then mid is acknowledged."""

    mid: int
    qos: int
    parsed: Parsed


def subscriptions(settings: Settings, shared: bool | None = None) -> list[str]:
    """The topic filters ingest reads: plain, or through its share group when scaled out.

    `shared` defaults to the setting; the other form is what _on_connect unsubscribes from."""
    filters = [
        f"{settings.topic_root}/gauges/+/up",
        f"{settings.topic_root}/gauges/+/status",
        "application/+/device/+/event/up",
    ]
    if settings.ingest.shared_subscription if shared is None else shared:
        return [f"$share/{settings.ingest.share_group}/{f}" for f in filters]
    return filters


class ReadingBudget:
    """At most `limit` parsed readings waiting for the writer.

    The queues count messages, but a store-and-forward message may carry 10,000 readings: without
    this, a replaying fleet could park a million parsed readings in memory. A message larger than
    the whole budget still goes through, alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()
        self.closed = False

    def acquire(self, n: int, on_wait: Callable[[], None] | None = None) -> None:
        """Wait until n more readings fit (or the budget is closed at shutdown).

        on_wait is called every half second of waiting: waiting for room is back-pressure by
        design, not a stall (the writer's own heartbeat tells whether it still works)."""
        with self._cond:
            while self.used > 0 and self.used + n > self.limit and not self.closed:
                if not self._cond.wait(timeout=0.5) and on_wait is not None:
                    on_wait()
            self.used += n

    def release(self, n: int) -> None:
        """The writer is done with n readings (committed or handed back to the broker)."""
        with self._cond:
            self.used -= n
            self._cond.notify_all()

    def close(self) -> None:
        """Stop waiting: nothing will be released any more."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class IngestService:
    """Owns the MQTT client, the bounded hand-over queue and the writer loop."""

    def __init__(self, settings: Settings, address: BrokerAddress, database_url: str) -> None:
        self.settings = settings
        self.cfg = settings.ingest
        self.address = address
        self.database_url = database_url
        self.stop_event = threading.Event()
        self.parsed: queue.Queue[Pending] = queue.Queue(maxsize=self.cfg.queue_size)
        self.budget = ReadingBudget(2 * self.cfg.batch_size)
        self.flood = FloodGate(self.cfg.flood, settings.topic_root)
        self.client = make_client(address, self.cfg.client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self.connected = threading.Event()
        live = settings.liveness
        self.heartbeats = HeartbeatReporter(database_url, "ingest", report_s=live.report_s)
        # The writer turns every 0.1 s when idle; paho's thread answers a probe every report_s.
        self.writer_beat = self.heartbeats.register("writer", live.stall_s)
        self.network_beat = self.heartbeats.register("mqtt", max(live.stall_s, 3 * live.report_s))
        self.probe = NetworkProbe(
            self.client, f"{settings.topic_root}/liveness/{self.cfg.client_id}", self.network_beat.beat
        )
        self.heartbeats.add_probe(self.probe.probe)

    # --- paho callbacks: parse and hand over; never touch the database here -------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, props: object) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            self.probe.seen()
            return
        # Re-subscribing is harmless with a persistent session and needed after expiry, and after
        # a broker restart for a shared subscription (Mosquitto does not restore those).
        client.subscribe([(t, 1) for t in subscriptions(self.settings)])
        # A session that read the fleet in the other form (the deployment was scaled out or back
        # in) would otherwise get every reading twice: once per form.
        client.unsubscribe(subscriptions(self.settings, not self.cfg.shared_subscription))
        self.connected.set()
        self.probe.seen()
        log.info("connected to the broker as %s", self.address.username)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        failed = [str(c) for c in codes if c.is_failure]
        if failed:
            log.error("subscription refused by the broker: %s (check the ACL)", ", ".join(failed))
        else:
            log.info("subscribed to %d topic filters", len(codes))

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connected.clear()
        self.probe.seen()
        if not self.stop_event.is_set():
            log.warning("disconnected from the broker (%s); paho reconnects", rc)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        # Parsing is pure CPU, so it runs right here: a hand-over to a parse thread cost more (a
        # queue hop per message) than it saved, since the GIL serialises the two anyway.
        # Blocking here when the budget or the queue is full is the back-pressure we want: paho
        # stops reading, the broker stops sending past Receive Maximum, and nothing is lost.
        self.network_beat.beat()
        if self.stop_event.is_set():
            return  # not acknowledged: the broker redelivers it to the next session
        parsed = self._parse(msg)
        self._hand_over(Pending(msg.mid, msg.qos, parsed))

    def _hand_over(self, pending: Pending) -> None:
        """Queue a parsed message for the writer, waiting (and beating) while there is no room."""
        self.budget.acquire(len(pending.parsed.readings), on_wait=self.network_beat.beat)
        while not self.stop_event.is_set():
            try:
                self.parsed.put(pending, timeout=0.5)
                return
            except queue.Full:
                self.network_beat.beat()

    def _parse(self, msg: mqtt.MQTTMessage) -> Parsed:
        """parse_message, or an `internal_error` dead letter if handling the message raised.

        An exception that left this callback used to kill paho's network thread, silently: the
        process stayed up and the broker redelivered the same message to every restart."""
        received_at = datetime.now(UTC)
        payload = bytes(msg.payload)
        try:
            # Over its device's limit: counted in the device's minute row, not parsed.
            over = self.flood.check(msg.topic, payload, received_at)
            if over is not None:
                return over
            return parse_message(
                msg.topic, payload, received_at, self.cfg, self.settings.topic_root, msg.retain
            )
        except Exception as exc:  # noqa: BLE001  # any bug meeting any input: dead-letter, go on
            # msg.topic itself may be what raised (it decodes UTF-8): take the raw bytes.
            topic = bytes(getattr(msg, "_topic", b"")).decode("utf-8", "replace")
            log.error("internal error handling a message on %r: %s", topic[:200], type(exc).__name__)
            return internal_error(topic, payload, exc, received_at)

    # --- lifecycle ------------------------------------------------------------------------------
    def run(self) -> None:
        """Connect, consume until stop(), then flush, acknowledge and disconnect."""
        connect_client(
            self.client,
            self.address,
            session_expiry_s=self.cfg.session_expiry_s,
            receive_maximum=self.cfg.receive_maximum,
        )
        self.heartbeats.start()
        self.client.loop_start()
        try:
            self._write_loop()
        finally:
            # Unblock paho's thread if it waits for room, so that loop_stop() can join it.
            # What it still hands over is never acknowledged: the broker redelivers it.
            self.budget.close()
            while not self.parsed.empty():
                self.parsed.get_nowait()
            self.client.disconnect()
            self.client.loop_stop()
            if self._conn is not None:
                self._conn.close()
            self.heartbeats.stop()
            log.info("ingest stopped")

    def stop(self) -> None:
        """Ask the loop to commit what has been parsed and exit; later messages stay unacknowledged."""
        self.stop_event.set()

    def _write_loop(self) -> None:
        """Commit batches of at most batch_size readings, at most flush_interval after the first.

        After linger_s, a batch is also committed as soon as nothing more is waiting: a lone
        storm reading does not sit out the whole flush interval (the alert latency budget),
        while a busy stream, which always has more waiting, still fills large batches.
        """
        finished = False
        while not finished:
            batch: list[Pending] = []
            readings = 0
            deadline: float | None = None
            linger_until = 0.0
            while readings < self.cfg.batch_size:
                self.writer_beat.beat()
                now = time.monotonic()
                if deadline is None:
                    timeout = 0.1
                elif now >= deadline:
                    break
                elif now >= linger_until:
                    timeout = 0.0  # past the linger: take what is there, or commit
                else:
                    timeout = linger_until - now
                try:
                    item = self.parsed.get(timeout=timeout) if timeout > 0 else self.parsed.get_nowait()
                except queue.Empty:
                    if self.stop_event.is_set():
                        finished = True  # paho hands nothing more over once stopping
                        break
                    if deadline is None or time.monotonic() < linger_until:
                        continue
                    break
                batch.append(item)
                readings += max(1, len(item.parsed.readings))
                if deadline is None:
                    started = time.monotonic()
                    deadline = started + self.cfg.flush_interval_s
                    linger_until = started + self.cfg.linger_s
            if batch:
                try:
                    self._commit_with_retry(batch)
                finally:
                    self.budget.release(sum(len(p.parsed.readings) for p in batch))

    def _commit_with_retry(self, batch: list[Pending]) -> None:
        parsed = [p.parsed for p in batch]
        delay = 0.2
        failing_since: float | None = None
        while True:
            try:
                conn = self._connection()
                # Rows the database refuses are split out and dead-lettered (ingest.refusals).
                write_splitting(conn, parsed, self.cfg.client_id, self.cfg.max_rate_mm_h)
                break
            except psycopg.Error as exc:
                # Database down or a transient conflict: keep the batch, do not acknowledge, retry.
                # The broker keeps everything unacknowledged for our persistent session.
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.error(
                        "database write failed (%s); retrying with backoff, nothing acknowledged",
                        type(exc).__name__,
                    )
                self._drop_connection()
                self.writer_beat.beat()  # retrying is the writer's work while the database is away
                if self.stop_event.wait(delay) and time.monotonic() - failing_since > 10:
                    log.error(
                        "stopping with %d unacknowledged messages; the broker will redeliver them",
                        len(batch),
                    )
                    return
                delay = min(delay * 2, 5.0)
        if failing_since is not None:
            log.info("database writes recovered after %.1f s", time.monotonic() - failing_since)
        for p in batch:
            if p.qos > 0:
                self.client.ack(p.mid, p.qos)

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.database_url, application_name=APP_INGEST, connect_timeout=5)
            prepare(self._conn)
        return self._conn

    def _drop_connection(self) -> None:
        close_quietly(self._conn)
        self._conn = None
