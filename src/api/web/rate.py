"""A small in-process token bucket per client address, for the public pages' GETs.

The sign-in and sign-up limiters count in the database, because they guard passwords and SMS
that cost money; a page read costs only a cached render, so a per-process bucket is enough to
stop one address from hammering it (two API processes give it twice the rate, which is fine)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBuckets:
    """`burst` requests at once per key, refilled at `rate` per second; at most `max_keys` kept
    (the least recently seen key is forgotten first, so a flood of addresses cannot grow memory)."""

    def __init__(
        self, rate: float, burst: int, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._max = rate, float(burst), max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token for this key; False when it has none left."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return allowed
