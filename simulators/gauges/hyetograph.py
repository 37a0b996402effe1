"""Design storms from Montana coefficients: a Chicago-type hyetograph and a block storm.

Montana's law gives the depth of the heaviest rain of duration t for a return period:
h(t) = a · t^(1-b), with h in mm and t in minutes (so the mean intensity is a · t^-b mm/min).

The Chicago (Keifer & Chu) hyetograph packs every duration's design depth around one peak: any
window of duration d that contains the peak, split r before and 1-r after it, holds exactly h(d).
Its cumulative depth is therefore written directly from h, which keeps the total exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from simulators.gauges.errors import SimulatorError


@dataclass(frozen=True)
class Montana:
    """Montana coefficients of one return period: h(t) = a · t^(1-b), h mm, t min."""

    return_period_years: int
    a: float
    b: float

    def depth_mm(self, minutes: float) -> float:
        """Design depth of a rain lasting `minutes`."""
        if minutes <= 0:
            return 0.0
        return float(self.a * minutes ** (1.0 - self.b))


# Illustrative coefficients for 6 min-2 h rains, of the order Météo-France publishes for
# northern France (1 h depth: 18 mm at 2 years, 32 mm at 10 years, 54 mm at 100 years).
# Replace them with the Creil or Beauvais station's own values for real design work.
MONTANA_MIN_MINUTES = 6.0

MONTANA: tuple[Montana, ...] = (
    Montana(2, 3.7, 0.62),
    Montana(5, 4.9, 0.60),
    Montana(10, 5.9, 0.59),
    Montana(20, 6.7, 0.58),
    Montana(50, 7.9, 0.57),
    Montana(100, 8.9, 0.56),
)


def montana_for(return_period_years: int) -> Montana:
    """The Montana coefficients of a tabulated return period; SimulatorError otherwise."""
    for row in MONTANA:
        if row.return_period_years == return_period_years:
            return row
    known = ", ".join(str(m.return_period_years) for m in MONTANA)
    raise SimulatorError(f"no Montana coefficients for T={return_period_years} y (known: {known})")


class Storm(Protocol):
    """Rain over absolute time: cumulative depth since the storm's start."""

    @property
    def start(self) -> datetime:
        """When the rain begins."""
        ...

    @property
    def duration(self) -> timedelta:
        """How long it rains."""
        ...

    def cumulative_mm(self, at: datetime) -> float:
        """Depth fallen between the storm's start and `at`."""
        ...

    @property
    def total_mm(self) -> float:
        """Depth of the whole storm."""
        ...


def depth_between(storm: Storm, t0: datetime, t1: datetime) -> float:
    """Depth fallen in [t0, t1)."""
    return max(0.0, storm.cumulative_mm(t1) - storm.cumulative_mm(t0))


def _minutes_into(storm: Storm, at: datetime) -> float:
    minutes = (at - storm.start).total_seconds() / 60.0
    return min(max(minutes, 0.0), storm.duration.total_seconds() / 60.0)


@dataclass(frozen=True)
class ChicagoStorm:
    """Chicago-type hyetograph of a total duration, with its peak at fraction r of it."""

    start: datetime
    duration: timedelta
    montana: Montana
    peak: float = 0.4
    scale: float = 1.0  # a gauge's share of the areal storm (spatial variability)

    def __post_init__(self) -> None:
        if self.duration < timedelta(minutes=MONTANA_MIN_MINUTES):
            raise SimulatorError("a design storm lasts at least 6 minutes (Montana's range)")
        if not 0.0 < self.peak < 1.0:
            raise SimulatorError("the peak position r must be strictly between 0 and 1")
        if self.duration <= timedelta(0):
            raise SimulatorError("a storm needs a positive duration")
        if not (math.isfinite(self.scale) and self.scale >= 0):
            raise SimulatorError("storm scale must be a finite number ≥ 0")

    @property
    def total_mm(self) -> float:
        """Depth of the whole storm: h(D), scaled."""
        return self.scale * self.montana.depth_mm(self.duration.total_seconds() / 60.0)

    def cumulative_mm(self, at: datetime) -> float:
        """Depth since the start, from the two branches of the Chicago hyetograph."""
        d = self.duration.total_seconds() / 60.0
        t = _minutes_into(self, at)
        r = self.peak
        tp = r * d
        h = self._depth
        before_peak_total = r * h(d)
        if t <= tp:
            value = before_peak_total - r * h((tp - t) / r)
        else:
            value = before_peak_total + (1.0 - r) * h((t - tp) / (1.0 - r))
        return self.scale * value

    def _depth(self, minutes: float) -> float:
        # Montana's law holds from 6 min up; below that t^-b runs to infinity at the peak, so
        # the shortest durations get the 6-minute mean intensity instead.
        if minutes < MONTANA_MIN_MINUTES:
            return self.montana.depth_mm(MONTANA_MIN_MINUTES) * minutes / MONTANA_MIN_MINUTES
        return self.montana.depth_mm(minutes)


@dataclass(frozen=True)
class BlockStorm:
    """Constant intensity over the duration, holding the Montana depth of that duration."""

    start: datetime
    duration: timedelta
    montana: Montana
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise SimulatorError("a storm needs a positive duration")

    @property
    def total_mm(self) -> float:
        """Depth of the whole storm: h(D), scaled."""
        return self.scale * self.montana.depth_mm(self.duration.total_seconds() / 60.0)

    def cumulative_mm(self, at: datetime) -> float:
        """Depth since the start: linear in time."""
        d = self.duration.total_seconds() / 60.0
        return self.total_mm * _minutes_into(self, at) / d


@dataclass(frozen=True)
class NoRain:
    """Dry weather."""

    start: datetime
    duration: timedelta = timedelta(0)

    @property
    def total_mm(self) -> float:
        """Nothing falls."""
        return 0.0

    def cumulative_mm(self, at: datetime) -> float:
        """Nothing falls."""
        return 0.0
