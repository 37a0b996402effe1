"""The incident pages' shaping (api.web.incident_view): the rain window and its bucket size,
the merged public series, the words before the chart, the timeline's public view, the map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.queries.rain import SeriesBucket
from api.web import incident_view as view
from vigie.communes import official_communes

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _incident(window_min: int | None = 60, resolved: datetime | None = None) -> dict[str, Any]:
    return {"opened_at": T0, "window_min": window_min, "resolved_at": resolved}


def test_rain_window_is_twice_the_rule_window_before_to_the_end_in_5_min_or_hourly_buckets() -> None:
    short = view.rain_window(_incident(60, T0 + timedelta(hours=3)), T0 + timedelta(days=9))
    assert (short.start, short.end, short.step.name) == (
        T0 - timedelta(hours=2),
        T0 + timedelta(hours=3),
        "5min",
    )
    assert (short.crossing_start, short.crossing_end) == (T0 - timedelta(hours=1), T0)
    # Still open 5 days later: capped at 2 days after the opening, hourly.
    long = view.rain_window(_incident(180), T0 + timedelta(days=5))
    assert long.end == T0 + view.MAX_AFTER and long.step.name == "1h"
    # No window on the rule: an hour; opened a minute ago: at least one 5-minute bucket after.
    fresh = view.rain_window(_incident(None), T0 + timedelta(minutes=1))
    assert fresh.crossing_start == T0 - timedelta(hours=1) and fresh.end == T0 + timedelta(minutes=5)


def _buckets(values: list[float | None]) -> list[SeriesBucket]:
    return [SeriesBucket(T0 + timedelta(minutes=5 * i), v, None, None) for i, v in enumerate(values)]


def test_the_public_series_keeps_the_largest_bucket_and_names_no_gauge() -> None:
    win = view.rain_window(_incident(10, T0 + timedelta(minutes=10)), T0)
    a, b = _buckets([1.0, None, 3.0, None]), _buckets([2.0, None, 0.5, 4.0])
    merged = view.chart_data(win, [("jauge-a", a), ("jauge-b", b)], merge=True)
    assert [s["label"] for s in merged["series"]] == ["Pluie (le plus fort des pluviomètres)"]
    assert merged["series"][0]["mm"] == [2.0, None, 3.0, 4.0]
    staff = view.chart_data(win, [("jauge-a", a), ("jauge-b", b)], merge=False)
    assert [s["label"] for s in staff["series"]] == ["jauge-a", "jauge-b"]
    assert staff["step"] == "5min" and staff["t"][1] - staff["t"][0] == 300


def test_the_words_before_the_chart_sum_the_crossing_window_of_the_wettest_gauge() -> None:
    data = {
        "t": [0, 300, 600, 900],
        "crossing": [300, 900],
        "series": [{"label": "a", "mm": [9.0, 1.0, 2.0, 5.0]}, {"label": "b", "mm": [None, 4.0, None, 8.0]}],
    }
    assert view.rain_summary(data) == (4.0, 9.0)  # b: 4 in [300, 900); a's 9 is the largest bucket
    assert view.rain_summary({**data, "series": [{"label": "c", "mm": [None] * 4}]}) == (None, None)


def test_the_public_timeline_never_names_who_acknowledged() -> None:
    changes = [
        {"id": 1, "at": T0, "kind": "opened", "level": "orange", "detail": {"measure": "31,2 mm en 1 h"}},
        {
            "id": 2,
            "at": T0 + timedelta(minutes=5),
            "kind": "acknowledged",
            "level": "orange",
            "detail": {"by": "david", "comment": "équipe sur place"},
        },
    ]
    sent = [{"change_id": 1, "messages": 3, "accepted": 2, "first_sent_at": T0, "queued_at": T0}]
    public = view.timeline(changes, sent, full=False)
    assert [(e.label, e.text, e.comment) for e in public] == [
        ("Ouverture", "31,2 mm en 1 h", None),
        ("Prise en compte", "par la personne d'astreinte", None),
    ]
    staff = view.timeline(changes, sent, full=True)
    assert [(e.label, e.text, e.comment) for e in staff] == [
        ("Ouverture", "31,2 mm en 1 h", None),
        ("Messages envoyés", "3 messages en file, 2 acceptés", None),
        ("Prise en compte", "par david", "équipe sur place"),
    ]


def test_the_small_map_has_the_16_communes_in_a_few_kilobytes() -> None:
    m = view.small_map()
    assert sorted(s.insee for s in m.shapes) == sorted(c.insee for c in official_communes())
    assert all(s.path.startswith("M") and s.path.endswith("z") for s in m.shapes)
    assert all(0 <= s.label_x <= m.width and 0 <= s.label_y <= m.height for s in m.shapes)
    assert sum(len(s.path) for s in m.shapes) < 5000


def test_duty_order_puts_what_nobody_acknowledged_first_then_the_highest_level() -> None:
    rows = [  # newest first, as the query gives them
        {"id": 1, "level": "yellow", "acknowledged": False},
        {"id": 2, "level": "red", "acknowledged": True},
        {"id": 3, "level": "orange", "acknowledged": False},
        {"id": 4, "level": "yellow", "acknowledged": False},
        {"id": 5, "level": "orange", "acknowledged": True},
    ]
    assert [i["id"] for i in view.duty_order(rows)] == [3, 1, 4, 2, 5]
