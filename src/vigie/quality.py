"""Quality flags on rain readings: a table of frozen descriptions, stored as one smallint bit set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityFlag:
    """One flag: its bit in rain_readings.flags, its API name and what it means."""

    bit: int
    name: str
    meaning: str


DOUBLE_TIP = QualityFlag(1, "double_tip", "two tips closer than the bucket can mechanically tip")
COUNTER_RESET = QualityFlag(2, "counter_reset", "cumulative counter went backwards (reboot)")
CLOCK_SKEW = QualityFlag(4, "clock_skew", "device time ahead of the server's by more than allowed")
OUT_OF_ORDER = QualityFlag(8, "out_of_order", "arrived after a newer reading of the same gauge")
COUNTER_BASELINE = QualityFlag(16, "counter_baseline", "first counter value; no interval total")

FLAGS: tuple[QualityFlag, ...] = (
    DOUBLE_TIP,
    COUNTER_RESET,
    CLOCK_SKEW,
    OUT_OF_ORDER,
    COUNTER_BASELINE,
)


def flag_names(bits: int) -> list[str]:
    """The names of the flags set in bits, in table order."""
    return [f.name for f in FLAGS if bits & f.bit]
