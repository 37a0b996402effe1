"""Per-device message limits: a device that floods is dead-lettered in aggregate.

A gauge's account sits in plain text on a device in an open field. Without a limit, whoever
takes it can publish as fast as the broker accepts and fill `dead_letters` with one row per
message, or crowd every other gauge out of ingest's batches. Each device (station id, or devEUI
for ChirpStack) gets a token bucket: `burst` messages at once, refilled at `max_per_minute`.
A message with no token left is not parsed; it is counted in one `too_many_messages` row per
device and minute (`messages` = how many), which keeps the first `keep_payloads` of them
(4 KiB each) in `payloads` for whoever wants to replay them. Beyond that they are counted only.

The buckets live in this process's memory, which is fine for a limit: with k ingest processes
the broker spreads a device's messages over them, so its effective limit is about k times the
setting, and a restarted process starts with full buckets (a backlog queued while it was
stopped goes through).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from ingest.parse import DEAD_LETTER_PAYLOAD_BYTES, Flooded, Parsed, printable, route
from vigie.settings import FloodLimit


class FloodGate:
    """Token buckets per device; `check` says whether a message is over its device's limit."""

    def __init__(
        self, limit: FloodLimit, root: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.root = root
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._pruned_at = clock()
        self._rate = limit.max_per_minute / 60.0
        self._detail = (
            f"messages over the device limit of {limit.max_per_minute}/min (burst {limit.burst});"
            f" how many in `messages`, the first {limit.keep_payloads} in `payloads`"
        )

    def admit(self, key: str) -> bool:
        """Take one token from key's bucket; False when it is empty."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self._rate)
        admitted = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if admitted else tokens, now)
        if now - self._pruned_at > 60.0:
            self._prune(now)
        return admitted

    def _prune(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: forget it, so that memory follows
        # the devices active in the last minutes, not every topic ever seen.
        full = float(self.limit.burst)
        self._buckets = {
            k: (t, at) for k, (t, at) in self._buckets.items() if t + (now - at) * self._rate < full
        }
        self._pruned_at = now

    def check(self, topic: str, payload: bytes, received_at: datetime) -> Parsed | None:
        """None when the message may be parsed; otherwise what it becomes (a Flooded entry)."""
        where = route(topic, self.root)
        station = where.station_id if where else None
        key = (station or where.dev_eui if where else None) or topic
        if self.admit(key):
            return None
        return Parsed(
            flooded=[
                Flooded(
                    printable(key),
                    printable(topic),
                    station,
                    payload[:DEAD_LETTER_PAYLOAD_BYTES],
                    len(payload),
                    received_at.replace(second=0, microsecond=0),
                    self.limit.keep_payloads,
                    self._detail,
                )
            ]
        )
