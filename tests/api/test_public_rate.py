"""The public pages' in-process token bucket: a burst, then the refill rate, per address, bounded."""

from __future__ import annotations

from api.web.rate import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_refill_rate_per_address() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.allow("b")  # another address has its own bucket
    clock.now = 0.5  # one token back at 2 per second
    assert buckets.allow("a") and not buckets.allow("a")
    clock.now = 100.0  # never more than the burst
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]


def test_a_flood_of_addresses_keeps_memory_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=100, clock=clock)
    for i in range(10_000):
        assert buckets.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets._buckets) == 100
    # The oldest were forgotten: they start again with a full bucket (harmless), the newest not.
    assert buckets.allow("10.0.0.0")
    assert not buckets.allow("10.0.39.15")
