"""Stochastic tips of a tipping bucket from a storm's rain.

Two models: accumulate-and-tip (the bucket fills with the rain and tips each time it holds one
tip's worth, with a little timing jitter; totals stay within one tip of the rain), and a
non-homogeneous Poisson process of rate i(t) / tip size (totals vary like real sampling noise).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from simulators.gauges.errors import SimulatorError
from simulators.gauges.hyetograph import Storm, depth_between

# Rain is integrated in slices this long; fine enough for min_gap_ms at 500 mm/h.
SLICE = timedelta(seconds=10)


class Tipper(Protocol):
    """Turns a storm's rain over [t0, t1) into tip instants."""

    def tips(self, storm: Storm, t0: datetime, t1: datetime) -> list[datetime]:
        """Tip instants in [t0, t1), sorted."""
        ...


def _slices(t0: datetime, t1: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    start = t0
    while start < t1:
        end = min(start + SLICE, t1)
        out.append((start, end))
        start = end
    return out


@dataclass
class AccumulateTipper:
    """The bucket fills continuously and tips at each full tip, jittered within its slice."""

    tip_mm: float
    rng: random.Random
    # Small: at 500 mm/h tips are 1.4 s apart, and a gap under 0.5 s reads as a double tip.
    jitter_s: float = 0.2
    # The bucket is rarely empty when a storm starts: a random initial fill.
    fill_mm: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tip_mm) and self.tip_mm > 0):
            raise SimulatorError("tip size must be a positive number of mm")
        if self.fill_mm < 0:
            self.fill_mm = self.rng.uniform(0.0, self.tip_mm)

    def tips(self, storm: Storm, t0: datetime, t1: datetime) -> list[datetime]:
        """Tips at the crossings of k·tip by the bucket's fill, linearly placed in each slice."""
        out: list[datetime] = []
        for s0, s1 in _slices(t0, t1):
            depth = depth_between(storm, s0, s1)
            if depth <= 0:
                continue
            span = (s1 - s0).total_seconds()
            needed = self.tip_mm - self.fill_mm
            level = self.fill_mm + depth
            while level >= self.tip_mm:
                frac = min(max(needed / depth, 0.0), 1.0)
                offset = frac * span + self.rng.uniform(-self.jitter_s, self.jitter_s)
                offset = min(max(offset, 0.0), span - 1e-3)
                out.append(s0 + timedelta(seconds=offset))
                level -= self.tip_mm
                needed += self.tip_mm
            self.fill_mm = level
        out.sort()
        return out


@dataclass
class PoissonTipper:
    """Tips as a non-homogeneous Poisson process of rate i(t) / tip size."""

    tip_mm: float
    rng: random.Random

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tip_mm) and self.tip_mm > 0):
            raise SimulatorError("tip size must be a positive number of mm")

    def tips(self, storm: Storm, t0: datetime, t1: datetime) -> list[datetime]:
        """A Poisson count per slice, placed uniformly in the slice."""
        out: list[datetime] = []
        for s0, s1 in _slices(t0, t1):
            lam = depth_between(storm, s0, s1) / self.tip_mm
            span = (s1 - s0).total_seconds()
            for _ in range(poisson(self.rng, lam)):
                out.append(s0 + timedelta(seconds=self.rng.uniform(0.0, span)))
        out.sort()
        return out


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw: Knuth's product method for small means, a rounded normal beyond."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def min_gap_ms(instants: list[datetime]) -> int | None:
    """Shortest time between two consecutive tips, in ms (None for fewer than two tips)."""
    if len(instants) < 2:
        return None
    gaps = (b - a for a, b in itertools.pairwise(instants))
    return int(min(gaps).total_seconds() * 1000)
