"""Public, pure hydrology functions used by the alert rules. Depths in mm, durations in minutes.

References:
- USDA-NRCS (1986), Urban Hydrology for Small Watersheds, TR-55, chapter 2 (SCS-CN runoff);
- USDA-SCS, National Engineering Handbook, Section 4 (NEH-4), chapter 4 and 10 (antecedent
  moisture classes: 5-day antecedent rainfall bounds, dormant and growing season);
- Chow, Maidment & Mays (1988), Applied Hydrology, section 5.5 (CN for AMC I and III, after
  Hawkins): CN_I = 4.2 CN / (10 - 0.058 CN), CN_III = 23 CN / (10 + 0.13 CN);
- Montana formula for intensity-duration-frequency: h(t) = a·t^(1-b).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alerts.montana import MontanaBand, MontanaSet

# NEH-4 Table 4-2 / TR-55: 5-day antecedent rainfall (mm) bounds of AMC I and AMC III.
_AMC_BOUNDS_MM = {False: (13.0, 28.0), True: (36.0, 53.0)}  # key: growing season?
# Northern-hemisphere growing season used when none is configured: April to September.
GROWING_MONTHS: frozenset[int] = frozenset(range(4, 10))


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def potential_retention_mm(cn: float) -> float:
    """S (mm) = 25400 / CN - 254 for a curve number in (0, 100]."""
    _check_finite("cn", cn)
    if not 0 < cn <= 100:
        raise ValueError(f"curve number must be in (0, 100], got {cn}")
    return 25400.0 / cn - 254.0


def scs_runoff_mm(p_mm: float, cn: float, ia_ratio: float = 0.2) -> float:
    """SCS-CN direct runoff Q (mm) for rain P (mm): (P - Ia)² / (P - Ia + S), 0 when P ≤ Ia.

    Ia = ia_ratio · S (0.2 in TR-55; 0.05 is a common revision).
    """
    _check_finite("p_mm", p_mm)
    _check_finite("ia_ratio", ia_ratio)
    if p_mm < 0:
        raise ValueError(f"rain depth must be >= 0, got {p_mm}")
    if not 0 <= ia_ratio < 1:
        raise ValueError(f"ia_ratio must be in [0, 1), got {ia_ratio}")
    s = potential_retention_mm(cn)
    ia = ia_ratio * s
    if p_mm <= ia:
        return 0.0
    return (p_mm - ia) ** 2 / (p_mm - ia + s)


def cn_for_amc(cn2: float, amc: int) -> float:
    """Curve number for antecedent moisture class 1, 2 or 3 from the AMC II value (Chow/Hawkins)."""
    _check_finite("cn2", cn2)
    if not 0 < cn2 <= 100:
        raise ValueError(f"curve number must be in (0, 100], got {cn2}")
    if amc == 1:
        return 4.2 * cn2 / (10.0 - 0.058 * cn2)
    if amc == 2:
        return float(cn2)
    if amc == 3:
        return min(100.0, 23.0 * cn2 / (10.0 + 0.13 * cn2))
    raise ValueError(f"AMC must be 1, 2 or 3, got {amc!r}")


def amc_from_antecedent_mm(p5_mm: float, growing_season: bool) -> int:
    """AMC (1, 2, 3) from the 5-day antecedent rainfall (NEH-4/TR-55 bounds).

    Dormant season: < 13 mm → I, 13-28 mm → II, > 28 mm → III.
    Growing season: < 36 mm → I, 36-53 mm → II, > 53 mm → III.
    """
    _check_finite("p5_mm", p5_mm)
    if p5_mm < 0:
        raise ValueError(f"antecedent rainfall must be >= 0, got {p5_mm}")
    low, high = _AMC_BOUNDS_MM[growing_season]
    if p5_mm < low:
        return 1
    if p5_mm > high:
        return 3
    return 2


def is_growing_season(moment: datetime, months: Iterable[int] = GROWING_MONTHS) -> bool:
    """True when moment's month is in the growing season (default April-September)."""
    return moment.month in set(months)


def areal_mean_mm(depths: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """Weighted mean depth over the stations that have data; weights renormalised; None if none."""
    total_w = 0.0
    total = 0.0
    for station, weight in weights.items():
        depth = depths.get(station)
        if depth is None or weight <= 0 or not math.isfinite(depth):
            continue
        total += weight * depth
        total_w += weight
    if total_w == 0:
        return None
    return total / total_w


def runoff_volume_m3(q_mm: float, area_km2: float) -> float:
    """Runoff volume: 1 mm over 1 km² is 1,000 m³."""
    return q_mm * area_km2 * 1000.0


def montana_depth_mm(a: float, b: float, duration_min: float) -> float:
    """Depth h (mm) = a·t^(1-b) for duration t in minutes."""
    for name, value in (("a", a), ("b", b), ("duration_min", duration_min)):
        _check_finite(name, value)
    if duration_min <= 0:
        raise ValueError(f"duration must be > 0 min, got {duration_min}")
    return float(a * duration_min ** (1.0 - b))


Coefficients = MontanaSet | MontanaBand | Mapping[float, tuple[float, float]]


def _table(coefficients: Coefficients, duration_min: float) -> Mapping[float, tuple[float, float]]:
    if isinstance(coefficients, MontanaSet):
        band = coefficients.band_for(duration_min)
        if band is None:
            raise ValueError(
                f"no Montana band of set {coefficients.id!r} covers {duration_min:g} min"
            )
        return band.coefficients
    if isinstance(coefficients, MontanaBand):
        if not coefficients.covers(duration_min):
            raise ValueError(f"{duration_min:g} min is outside the Montana band")
        return coefficients.coefficients
    return coefficients


def return_period_years(
    depth_mm: float, duration_min: float, coefficients: Coefficients
) -> float | None:
    """Return period (years) of depth_mm fallen in duration_min, from Montana coefficients.

    coefficients: a MontanaSet (the band covering duration_min is used), one MontanaBand, or a
    mapping {return period in years: (a, b)}. Between two tabulated return periods the result is
    interpolated linearly in ln(T) against depth. Outside the table it is bounded, never
    extrapolated: a depth below the smallest tabulated depth (or zero) returns None ("less than
    the smallest return period", e.g. < 5 years); a depth at or above the largest returns the
    largest tabulated return period (e.g. 100.0, meaning "at least 100 years").
    Raises ValueError when no band covers duration_min.
    """
    _check_finite("depth_mm", depth_mm)
    return return_period_from_points(depth_mm, return_period_points(coefficients, duration_min))


def return_period_points(
    coefficients: Coefficients, duration_min: float
) -> list[tuple[float, float]]:
    """(depth mm, return period years) for each tabulated period at this duration, ascending.

    Depths are made non-decreasing in T so that interpolation is always defined.
    """
    table = _table(coefficients, duration_min)
    if len(table) < 1:
        raise ValueError("empty Montana table")
    points: list[tuple[float, float]] = []
    running = 0.0
    for period in sorted(table):
        a, b = table[period]
        running = max(running, montana_depth_mm(a, b, duration_min))
        points.append((running, float(period)))
    return points


def return_period_from_points(depth_mm: float, points: list[tuple[float, float]]) -> float | None:
    """Interpolate in ln(T) between points; None below the first, the last T at or above it."""
    if depth_mm <= 0 or depth_mm < points[0][0]:
        return None
    if depth_mm >= points[-1][0]:
        return points[-1][1]
    for (d0, t0), (d1, t1) in itertools.pairwise(points):
        if d0 <= depth_mm <= d1:
            if d1 == d0:
                return t1
            frac = (depth_mm - d0) / (d1 - d0)
            return math.exp(math.log(t0) + frac * (math.log(t1) - math.log(t0)))
    return points[-1][1]  # unreachable: the depth lies in one interval


@dataclass(frozen=True)
class IntervalRain:
    """One reading: rain (mm) over the interval that ends at ts and lasts interval_s."""

    ts: datetime
    interval_s: float
    mm: float


def tip_intensity_mm_h(
    readings: Sequence[IntervalRain],
    now: datetime,
    tip_mm: float,
    min_span_min: float = 5.0,
    lookback_min: float = 60.0,
) -> float:
    """Rain rate (mm/h) from the time the last tips took, over at least min_span_min.

    Walks back from now until the span holds at least two tips and min_span_min minutes, then
    divides the depth by the span. The span always ends at now, so the rate decays smoothly once
    the tips stop instead of dropping from a large value to 0, and a single 0.2 mm tip never reads
    as a burst. Readings after now are ignored.
    """
    if tip_mm <= 0:
        raise ValueError("tip_mm must be > 0")
    min_span_s = min_span_min * 60.0
    lookback_s = lookback_min * 60.0
    depth = 0.0
    span_s = 0.0
    for r in sorted(readings, key=lambda x: x.ts, reverse=True):
        age_end = (now - r.ts).total_seconds()
        if age_end < 0:
            continue
        start_age = age_end + r.interval_s
        if age_end >= lookback_s:
            break
        depth += max(0.0, r.mm) if math.isfinite(r.mm) else 0.0
        span_s = min(start_age, lookback_s)
        if span_s >= min_span_s and depth >= 2 * tip_mm - 1e-9:
            break
    if depth <= 0:
        return 0.0
    span_s = max(span_s, min_span_s)
    return depth / span_s * 3600.0
