"""Ingest's counters, committed with each batch into ingest_metrics (one row per worker)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vigie import ingest_counters as keys

# Upper bounds (seconds) of the batch-latency histogram buckets.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class BatchStats:
    """What one committed batch adds to the worker's counters."""

    messages: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    ignored_retained: int = 0  # retained status of an unknown station, replayed on subscribe
    dead_letters: Counter[str] = field(default_factory=Counter)
    # internal_error dead letters by exception class: a bug met an input; each one is worth a look.
    internal_errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    lag_s: float = 0.0

    def merge_into(self, counters: dict[str, Any]) -> dict[str, Any]:
        """Return counters (the stored JSON) with this batch added."""
        result = dict(counters)
        for key, _name, _help in keys.COUNTS:
            result[key] = int(result.get(key, 0)) + getattr(self, key)
        result[keys.BATCHES] = int(result.get(keys.BATCHES, 0)) + 1
        dead = dict(result.get(keys.DEAD_LETTERS, {}))
        for reason, n in self.dead_letters.items():
            dead[reason] = int(dead.get(reason, 0)) + n
        result[keys.DEAD_LETTERS] = dead
        errors = dict(result.get(keys.INTERNAL_ERRORS, {}))
        for name, n in self.internal_errors.items():
            errors[name] = int(errors.get(name, 0)) + n
        result[keys.INTERNAL_ERRORS] = errors
        buckets = dict(result.get(keys.BATCH_SECONDS_BUCKETS, {}))
        for le in (*LATENCY_BUCKETS, float("inf")):
            key = "+Inf" if le == float("inf") else str(le)
            buckets[key] = int(buckets.get(key, 0)) + (1 if self.seconds <= le else 0)
        result[keys.BATCH_SECONDS_BUCKETS] = buckets
        result[keys.BATCH_SECONDS_SUM] = float(result.get(keys.BATCH_SECONDS_SUM, 0.0)) + self.seconds
        result[keys.LAG_S] = self.lag_s
        return result
