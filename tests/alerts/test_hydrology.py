"""Hydrology functions against published worked examples and tables."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine_errors import AlertsConfigError
from alerts.hydrology import (
    IntervalRain,
    amc_from_antecedent_mm,
    areal_mean_mm,
    cn_for_amc,
    is_growing_season,
    montana_depth_mm,
    return_period_years,
    runoff_volume_m3,
    scs_runoff_mm,
    tip_intensity_mm_h,
)
from alerts.montana import EXAMPLE_SET, MontanaBand, parse_set

IN = 25.4  # mm per inch


# TR-55 (USDA-NRCS 1986), Table 2-1 "Runoff depth for selected CN's and rainfall amounts"
# (inches): P = 5.0 in, CN 75 -> 2.45; 3.0 in, CN 80 -> 1.25; 6.0 in, CN 90 -> 4.85;
# 1.0 in, CN 70 -> 0.
@pytest.mark.parametrize(
    ("p_in", "cn", "q_in"), [(5.0, 75, 2.45), (3.0, 80, 1.25), (1.0, 70, 0.0), (6.0, 90, 4.85)]
)
def test_scs_runoff_matches_tr55_table(p_in: float, cn: float, q_in: float) -> None:
    assert scs_runoff_mm(p_in * IN, cn) / IN == pytest.approx(q_in, abs=0.006)


def test_scs_runoff_chow_example_5_5_1() -> None:
    # Chow, Maidment & Mays (1988), Applied Hydrology, Example 5.5.1: P = 5 in on a composite
    # CN 75.1 watershed: S = 3.32 in, Q = 2.46 in.
    assert scs_runoff_mm(5 * IN, 75.1) / IN == pytest.approx(2.46, abs=0.01)


def test_scs_runoff_zero_below_initial_abstraction() -> None:
    s = 25400 / 80 - 254  # 63.5 mm
    assert scs_runoff_mm(0.2 * s, 80) == 0.0
    assert scs_runoff_mm(0.2 * s + 1, 80) > 0
    assert scs_runoff_mm(0.0, 80) == 0.0
    # A smaller Ia ratio gives runoff earlier.
    assert scs_runoff_mm(10, 80, ia_ratio=0.05) > scs_runoff_mm(10, 80)


@pytest.mark.parametrize(
    ("p", "cn", "ia"), [(-1, 80, 0.2), (10, 0, 0.2), (10, 101, 0.2), (math.nan, 80, 0.2),
                        (10, 80, 1.5), (math.inf, 80, 0.2)],
)
def test_scs_runoff_refuses_bad_input(p: float, cn: float, ia: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        scs_runoff_mm(p, cn, ia)


def test_cn_for_amc_hawkins_chow() -> None:
    # Chow et al. (1988) section 5.5: CN(I) = 4.2 CN(II)/(10 - 0.058 CN(II)),
    # CN(III) = 23 CN(II)/(10 + 0.13 CN(II)); for CN(II) = 75.1 (Example 5.5.1):
    assert cn_for_amc(75.1, 1) == pytest.approx(55.9, abs=0.05)
    assert cn_for_amc(75.1, 3) == pytest.approx(87.4, abs=0.05)
    assert cn_for_amc(75.1, 2) == 75.1
    # NEH-4 Table 10-1 (SCS): CN II 80 -> AMC I 63, AMC III 91 (the formula is within ~1 CN).
    assert cn_for_amc(80, 1) == pytest.approx(63, abs=1)
    assert cn_for_amc(80, 3) == pytest.approx(91, abs=1)
    assert cn_for_amc(100, 3) == 100.0
    with pytest.raises(ValueError, match="AMC"):
        cn_for_amc(80, 4)


@pytest.mark.parametrize(
    ("p5", "growing", "amc"),
    [(0, False, 1), (12.9, False, 1), (13, False, 2), (28, False, 2), (28.1, False, 3),
     (35.9, True, 1), (36, True, 2), (53, True, 2), (53.1, True, 3), (20, True, 1)],
)
def test_amc_bounds_neh4(p5: float, growing: bool, amc: int) -> None:
    # NEH-4 Table 4-2 / TR-55: dormant < 13 mm (0.5 in) I, 13-28 mm II, > 28 mm (1.1 in) III;
    # growing < 36 mm (1.4 in) I, 36-53 mm II, > 53 mm (2.1 in) III.
    assert amc_from_antecedent_mm(p5, growing) == amc


def test_growing_season_default_april_to_september() -> None:
    assert is_growing_season(datetime(2026, 6, 1, tzinfo=UTC))
    assert not is_growing_season(datetime(2026, 11, 28, tzinfo=UTC))


def test_areal_mean_renormalises_over_stations_with_data() -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert areal_mean_mm({"a": 10, "b": 20, "c": 30}, weights) == pytest.approx(17.0)
    # c has no data: weights 0.5/0.3 renormalised.
    assert areal_mean_mm({"a": 10, "b": 20, "c": None}, weights) == pytest.approx(13.75)
    assert areal_mean_mm({}, weights) is None
    assert runoff_volume_m3(2.0, 12.5) == pytest.approx(25_000)


def test_montana_depth() -> None:
    # h = a t^(1-b): a = 5, b = 0.5, t = 100 min -> 5 * 10 = 50 mm.
    assert montana_depth_mm(5, 0.5, 100) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="duration"):
        montana_depth_mm(5, 0.5, 0)


def test_return_period_interpolates_and_is_bounded() -> None:
    table = {10.0: (5.0, 0.5), 100.0: (10.0, 0.5)}  # at 100 min: 50 mm and 100 mm
    assert return_period_years(50, 100, table) == pytest.approx(10.0)
    assert return_period_years(100, 100, table) == pytest.approx(100.0)
    # Halfway in depth is halfway in ln T: sqrt(10 * 100).
    assert return_period_years(75, 100, table) == pytest.approx(math.sqrt(1000))
    assert return_period_years(49.9, 100, table) is None  # below the table
    assert return_period_years(0, 100, table) is None
    assert return_period_years(500, 100, table) == 100.0  # capped, not extrapolated


def test_example_set_is_labelled_and_monotonic() -> None:
    assert EXAMPLE_SET.is_example and "EXEMPLE" in EXAMPLE_SET.label
    for duration in (6, 15, 30, 60, 120, 360, 720, 1440):
        band = EXAMPLE_SET.band_for(duration)
        assert band is not None
        depths = [
            montana_depth_mm(*band.coefficients[t], duration)
            for t in (5.0, 10.0, 20.0, 30.0, 50.0, 100.0)
        ]
        assert depths == sorted(depths)
    # 30 mm in 1 h is about a 10-year event in the example set.
    assert return_period_years(30.0, 60, EXAMPLE_SET) == pytest.approx(10, rel=0.05)
    with pytest.raises(ValueError, match="band"):
        return_period_years(30.0, 4320, EXAMPLE_SET)
    first = EXAMPLE_SET.bands[0]
    assert isinstance(first, MontanaBand)
    with pytest.raises(ValueError, match="outside"):
        return_period_years(30.0, 600, first)


@pytest.mark.parametrize(
    "data",
    [{}, {"bands": []}, {"bands": [{"min_duration_min": 6}]},
     {"bands": [{"min_duration_min": 6, "max_duration_min": 60,
                 "coefficients": {"5": {"a": -1, "b": 0.5}, "10": {"a": 1, "b": 0.5}}}]},
     {"bands": [{"min_duration_min": 60, "max_duration_min": 6,
                 "coefficients": {"5": {"a": 1, "b": 0.5}, "10": {"a": 2, "b": 0.5}}}]},
     "not json object"],
)
def test_bad_montana_sets_refused(data: object) -> None:
    with pytest.raises(AlertsConfigError, match="Montana"):
        parse_set("x", "x", False, data)


T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def _readings(mm_per_5min: list[float]) -> list[IntervalRain]:
    return [
        IntervalRain(T0 + timedelta(minutes=5 * (i + 1)), 300, mm)
        for i, mm in enumerate(mm_per_5min)
    ]


def test_tip_intensity_over_at_least_five_minutes() -> None:
    rs = _readings([1.0, 1.0, 1.0])  # 12 mm/h steady
    now = T0 + timedelta(minutes=15)
    assert tip_intensity_mm_h(rs, now, 0.2) == pytest.approx(12.0)


def test_tip_intensity_one_tip_is_not_a_burst_and_decays() -> None:
    # One 0.2 mm tip in the last 5 min after a dry hour: spread over the whole lookback, not
    # read as 2.4 mm/h (0.2 mm in 5 min) as a fixed 5-min window would.
    rs = _readings([0.0] * 11 + [0.2])
    now = T0 + timedelta(minutes=60)
    assert tip_intensity_mm_h(rs, now, 0.2) == pytest.approx(0.2)
    # After heavy rain stops, the rate decays with time instead of dropping to 0 at once.
    rs = _readings([3.0])
    rates = [tip_intensity_mm_h(rs, T0 + timedelta(minutes=m), 0.2) for m in (5, 10, 20, 40)]
    assert rates == sorted(rates, reverse=True) and rates[-1] > 0
    assert rates[0] == pytest.approx(36.0)
    assert tip_intensity_mm_h([], T0, 0.2) == 0.0
    # Readings from the future (clock skew) are ignored.
    assert tip_intensity_mm_h(_readings([5.0]), T0, 0.2) == 0.0
