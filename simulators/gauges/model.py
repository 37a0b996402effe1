"""A simulated gauge: the same payloads as the firmware, from the rain its bucket sees.

Each interval the device counts its tips and reports a reading (seq, ts, tips, interval_s,
battery, RSSI, firmware, min_gap_ms). When dry it may report only every `heartbeat_s`, the
reading then covering the whole dry stretch. It sometimes loses its link: readings go to its
store-and-forward buffer, its status turns `offline` (what its Last Will would do), and when the
link is back it says `online` and replays the buffer as `{"readings": [...]}` batches.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.gauges.errors import SimulatorError
from simulators.gauges.fleet import SimStation
from simulators.gauges.hyetograph import Storm
from simulators.gauges.tips import Tipper, min_gap_ms

FIRMWARE = "sim-1.0"
# The contract's limits: ingest dead-letters payloads over 64 KiB and batches over 10,000.
MAX_PAYLOAD_BYTES = 60 * 1024
MAX_BATCH_READINGS = 10_000


@dataclass(frozen=True)
class SentReading:
    """What a reading says, for the ground truth: epoch ts, tips, seq."""

    ts: int
    tips: int
    seq: int
    interval_s: int


@dataclass(frozen=True)
class Message:
    """One MQTT message a device sends: `kind` is `up` or `status`."""

    station: str
    kind: str
    payload: bytes
    readings: tuple[SentReading, ...] = ()
    retain: bool = False
    fault: str | None = None  # the injected fault this message is, if any

    @property
    def is_batch(self) -> bool:
        """A `{"readings": [...]}` message."""
        return self.payload.startswith(b'{"readings"')


def iso(ts: int) -> str:
    """Epoch seconds as the contract's ISO 8601 UTC form, e.g. 2026-11-28T14:05:00Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reading_fields(
    reading: SentReading,
    *,
    battery_v: float | None = None,
    rssi: int | None = None,
    fw: str | None = None,
    min_gap: int | None = None,
) -> dict[str, Any]:
    """The reading as the contract's JSON object, fields in the documented order."""
    fields: dict[str, Any] = {
        "seq": reading.seq,
        "ts": iso(reading.ts),
        "tips": reading.tips,
        "interval_s": reading.interval_s,
    }
    if battery_v is not None:
        fields["battery_v"] = battery_v
    if rssi is not None:
        fields["rssi"] = rssi
    if fw is not None:
        fields["fw"] = fw
    if min_gap is not None:
        fields["min_gap_ms"] = min_gap
    return fields


def encode(fields: dict[str, Any]) -> bytes:
    """Compact JSON, as the firmware sends it."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def batch_messages(
    station: str,
    items: list[tuple[SentReading, bytes]],
    *,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    max_readings: int = MAX_BATCH_READINGS,
) -> list[Message]:
    """Pack encoded readings into as few `{"readings": [...]}` messages as the limits allow."""
    messages: list[Message] = []
    head, tail = b'{"readings":[', b"]}"
    chunk: list[tuple[SentReading, bytes]] = []
    size = len(head) + len(tail)

    def close() -> None:
        if chunk:
            body = head + b",".join(e for _, e in chunk) + tail
            messages.append(Message(station, "up", body, tuple(r for r, _ in chunk)))

    for reading, encoded in items:
        extra = len(encoded) + (1 if chunk else 0)
        if chunk and (size + extra > max_bytes or len(chunk) >= max_readings):
            close()
            chunk, size = [], len(head) + len(tail)
            extra = len(encoded)
        if size + extra > max_bytes:
            raise SimulatorError("a single reading does not fit in a message")
        chunk.append((reading, encoded))
        size += extra
    close()
    return messages


@dataclass
class Device:
    """One gauge's state between intervals."""

    station: SimStation
    tipper: Tipper
    rng: random.Random
    start: datetime
    heartbeat_s: int = 0  # 0: report every interval, even when dry
    offline_rate: float = 0.0  # chance per interval of losing the link
    mean_offline_intervals: float = 6.0
    batch_size: int = 1  # readings per message in normal operation (store-and-forward bench)
    buffer_capacity: int = 50_000
    seq: int = 0
    counter: int = 0
    battery_v: float = field(default=0.0)
    rssi_base: float = field(default=0.0)
    online: bool = True
    offline_until: datetime | None = None
    overwritten: int = 0
    _last_end: datetime = field(init=False)
    _buffer: list[tuple[SentReading, bytes]] = field(default_factory=list, init=False)
    _pending: list[tuple[SentReading, bytes]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.offline_rate <= 1.0:
            raise SimulatorError("offline rate must be between 0 and 1")
        if self.batch_size < 1 or self.batch_size > MAX_BATCH_READINGS:
            raise SimulatorError(f"batch size must be 1 to {MAX_BATCH_READINGS}")
        self._last_end = self.start
        if self.battery_v == 0.0:
            self.battery_v = round(self.rng.uniform(3.9, 4.15), 3)
        if self.rssi_base == 0.0:
            self.rssi_base = self.rng.uniform(-105.0, -70.0)

    @property
    def interval(self) -> timedelta:
        """The reporting interval."""
        return timedelta(seconds=self.station.interval_s)

    @property
    def held(self) -> int:
        """Readings not sent yet (buffered while offline, or waiting to fill a batch)."""
        return len(self._buffer) + len(self._pending)

    def step(self, end: datetime, storm: Storm) -> list[Message]:
        """Advance to the interval ending at `end`; return the messages sent at that moment."""
        instants = self.tipper.tips(storm, end - self.interval, end)
        self.counter += len(instants)
        messages: list[Message] = []
        due = (end - self._last_end).total_seconds() >= max(self.heartbeat_s, 1)
        if instants or due:
            if instants and end - self.interval > self._last_end:
                # Rain after a dry stretch: close the dry stretch first so the rain is dated.
                self._record(self._reading(end - self.interval, 0, None))
            self._record(self._reading(end, len(instants), min_gap_ms(instants)))
        messages.extend(self._link(end))
        return messages

    def flush(self) -> list[Message]:
        """End of the run: the link comes back and everything held is sent."""
        messages: list[Message] = []
        if not self.online:
            self.online, self.offline_until = True, None
            messages.append(self._status("online"))
        held, self._buffer, self._pending = self._buffer + self._pending, [], []
        messages.extend(self._package(held))
        return messages

    def _reading(self, end: datetime, tips: int, gap: int | None) -> tuple[SentReading, bytes]:
        interval_s = int((end - self._last_end).total_seconds())
        reading = SentReading(int(end.timestamp()), tips, self.seq, interval_s)
        self.seq += 1
        self._last_end = end
        # A few µV per radio burst; the solar panel is not modelled.
        self.battery_v = max(3.3, self.battery_v - 0.0001)
        rssi = int(min(-30, max(-125, round(self.rssi_base + self.rng.gauss(0, 3)))))
        fields = reading_fields(
            reading, battery_v=round(self.battery_v, 2), rssi=rssi, fw=FIRMWARE, min_gap=gap
        )
        return reading, encode(fields)

    def _record(self, item: tuple[SentReading, bytes]) -> None:
        self._pending.append(item)

    def _link(self, end: datetime) -> list[Message]:
        messages: list[Message] = []
        if self.online and self.offline_rate and self.rng.random() < self.offline_rate:
            self.online = False
            intervals = 1 + int(self.rng.expovariate(1.0 / self.mean_offline_intervals))
            self.offline_until = end + intervals * self.interval
            messages.append(self._status("offline"))
        if not self.online:
            assert self.offline_until is not None
            if end < self.offline_until:
                self._buffer.extend(self._pending)
                self._pending = []
                excess = len(self._buffer) - self.buffer_capacity
                if excess > 0:
                    # The flash ring buffer overwrites its oldest readings, as the firmware does.
                    del self._buffer[:excess]
                    self.overwritten += excess
                return messages
            self.online, self.offline_until = True, None
            messages.append(self._status("online"))
            replay, self._buffer = self._buffer + self._pending, []
            self._pending = []
            messages.extend(batch_messages(self.station.id, replay))
            return messages
        if len(self._pending) >= self.batch_size:
            held, self._pending = self._pending, []
            messages.extend(self._package(held))
        return messages

    def _package(self, items: list[tuple[SentReading, bytes]]) -> list[Message]:
        if not items:
            return []
        if len(items) == 1 and self.batch_size == 1:
            reading, encoded = items[0]
            return [Message(self.station.id, "up", encoded, (reading,))]
        return batch_messages(self.station.id, items)

    def _status(self, state: str) -> Message:
        return Message(self.station.id, "status", state.encode(), retain=True)
