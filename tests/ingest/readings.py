"""Payload builders for ingest tests (the docs/mqtt.md format)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

# Fixed once per test session: computed per call, a test that straddled a minute boundary got
# minute(1) of its second call equal to minute(2) of its first (a duplicate key, a flaky test).
_BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=7)


def minute(n: int, base: datetime | None = None) -> datetime:
    """A timestamp n minutes after a fixed recent base (inside retention, not in the future)."""
    return (base or _BASE) + timedelta(minutes=n)


def reading(seq: int, ts: datetime, tips: int = 1, interval_s: int = 60, **extra: object) -> str:
    """One reading as JSON."""
    return json.dumps({"seq": seq, "ts": ts.isoformat(), "tips": tips, "interval_s": interval_s, **extra})


def topic(station: str, kind: str = "up") -> str:
    """The station's topic."""
    return f"vigie/v1/gauges/{station}/{kind}"
