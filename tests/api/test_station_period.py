"""The station page's ranges (api.web.routes.stations.period) and the map's rain classes, without
a browser: which bounds and step each choice gives, and when the chart is fed live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.web import station_words as words
from api.web.routes.stations import period

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "length", "step"),
    [
        ("24h", timedelta(hours=24), "15min"),
        ("7j", timedelta(days=7), "1h"),
        ("30j", timedelta(days=30), "6h"),
    ],
)
def test_rolling_ranges_end_now_and_are_live(key: str, length: timedelta, step: str) -> None:
    shown, error = period({"periode": key}, NOW, PARIS)
    assert error is None
    assert (shown.start, shown.end, shown.step, shown.live) == (NOW - length, NOW, step, True)


def test_no_choice_is_the_last_24_h() -> None:
    shown, error = period({}, NOW, PARIS)
    assert error is None and shown.key == "24h" and shown.end - shown.start == timedelta(hours=24)


@pytest.mark.parametrize(
    ("du", "au", "step"),
    [
        ("2026-11-30", "2026-12-01", "15min"),
        ("2026-11-28", "2026-11-30", "1h"),
        ("2026-11-01", "2026-11-14", "1h"),
        ("2026-10-01", "2026-11-30", "6h"),
        ("2025-12-01", "2026-11-30", "1d"),
    ],
)
def test_custom_dates_are_local_days_both_included(du: str, au: str, step: str) -> None:
    shown, error = period({"periode": "perso", "du": du, "au": au}, NOW, PARIS)
    assert error is None and shown.step == step
    assert shown.start.astimezone(PARIS).isoformat().startswith(du + "T00:00:00")
    # The day after "au" at midnight in Paris, or now when "au" is today.
    if au == "2026-12-01":
        assert shown.end == NOW and shown.live
    else:
        assert shown.end.astimezone(PARIS).hour == 0 and not shown.live
        assert (shown.end.astimezone(PARIS).date() - timedelta(days=1)).isoformat() == au


def test_a_day_across_the_autumn_clock_change_is_25_hours() -> None:
    shown, _ = period({"periode": "perso", "du": "2026-10-25", "au": "2026-10-25"}, NOW, PARIS)
    assert shown.end - shown.start == timedelta(hours=25)


def test_a_refused_range_keeps_what_was_typed_cut_short() -> None:
    shown, error = period({"periode": "perso", "du": "x" * 1000, "au": "2026-11-01"}, NOW, PARIS)
    assert error is not None and error.startswith("La date « du »")
    assert shown.key == "24h" and shown.live and len(shown.du) == 40


@pytest.mark.parametrize(
    ("mm", "bounds", "cls"),
    [
        (None, words.BOUNDS_24H, 0),
        (0.0, words.BOUNDS_24H, 0),
        (0.2, words.BOUNDS_24H, 1),
        (5.0, words.BOUNDS_24H, 2),
        (49.9, words.BOUNDS_24H, 3),
        (50.0, words.BOUNDS_24H, 4),
        (1.9, words.BOUNDS_1H, 1),
        (10.0, words.BOUNDS_1H, 4),
    ],
)
def test_rain_classes(mm: float | None, bounds: tuple[float, ...], cls: int) -> None:
    assert words.rain_class(mm, bounds) == cls
