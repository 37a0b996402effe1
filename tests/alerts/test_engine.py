"""The engine on the real database: storm replay, hysteresis, for-duration, restart safety."""

from __future__ import annotations

import json
import select
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.engine import Engine
from alerts.snapshot import load_directory, load_snapshot
from simulators.gauges.hyetograph import ChicagoStorm, montana_for
from tests.alerts.rain import T0, add_rain, changes, engine, only_rules, storm
from tests.factories import make_station
from vigie.alert_rules import WINDOWS_MIN

Conn = psycopg.Connection[Any]


def _replay(conn: Conn, eng: Engine, station: str, rain: list[float], start: Any = T0,
            tail_min: int = 0) -> None:
    """Feed the storm reading by reading, evaluating after each 'ingest batch', then sweep."""
    for ts, mm in storm(start, rain):
        add_rain(conn, station, ts, mm)
        eng.evaluate(conn, [station], now=ts)
    end = start + timedelta(minutes=5 * len(rain))
    for minute in range(1, tail_min + 1):
        eng.evaluate(conn, now=end + timedelta(minutes=minute), sweep=True)


# 1 h accumulation rules (seeded): yellow 15/10, orange 30/20, red 45/35 mm.
STORM = [0.0, 2.0, 4.0, 6.0, 6.0, 8.0, 6.0, 2.0, 0.4, 0.0, 0.0, 0.0]


def test_storm_replay_yellow_orange_resolved(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    eng = engine()
    _replay(db, eng, "thourotte-mairie", STORM, tail_min=120)
    got = changes(db)
    assert [(k, lvl, prev) for _, k, lvl, prev, _ in got] == [
        ("opened", "yellow", None),
        ("escalated", "orange", "yellow"),
        ("deescalated", "yellow", "orange"),
        ("resolved", "yellow", "yellow"),
    ]
    assert all(notify for *_, notify in got)
    assert len({i for i, *_ in got}) == 1  # ONE incident whose level moves
    inc = db.execute(
        "SELECT state, max_level, title, communes, audience, last_value FROM incidents"
    ).fetchone()
    assert inc is not None
    assert inc[0] == "resolved" and inc[1] == "orange"
    assert "Cumul de pluie 1 h" in inc[2] and "Thourotte" in inc[2]
    assert inc[3] == ["60636"] and inc[4] == "public"
    opened = db.execute(
        "SELECT value, window_min, detail FROM incident_changes WHERE kind = 'opened'"
    ).fetchone()
    assert opened is not None
    assert opened[0] == pytest.approx(18.0) and opened[1] == 60
    assert opened[2]["station_id"] == "thourotte-mairie"
    assert "18,0 mm en 1 h" in opened[2]["summary"] and "jaune" in opened[2]["summary"]
    # Nothing left in progress once resolved.
    assert db.execute("SELECT count(*) FROM rule_state").fetchone() == (0,)


def test_reevaluating_the_same_data_changes_nothing(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    eng = engine()
    _replay(db, eng, "thourotte-mairie", STORM[:7])
    before = changes(db)
    now = T0 + timedelta(minutes=35)
    for _ in range(3):
        eng.evaluate(db, ["thourotte-mairie"], now=now)
        eng.evaluate(db, now=now, sweep=True)
    assert changes(db) == before and len(before) == 2


def test_hysteresis_no_flapping(db: Conn) -> None:
    # Around the yellow raise threshold (15 mm/h), never under its clear threshold (10 mm).
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h — jaune")
    eng = engine()
    # 12 x 1.3 mm = 15.6 mm in the hour, then alternate 1.0/1.6 so the hour total moves
    # between ~15.3 and ~14.7: around raise, always above clear.
    rain = [1.3] * 12 + [1.0, 1.6] * 12
    _replay(db, eng, "thourotte-mairie", rain)
    kinds = [k for _, k, *_ in changes(db)]
    assert kinds == ["opened"]


def test_for_duration_delays_raise_and_clear(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db)
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('cumul 15 min 10 min', 'accumulation', 'station', '*', 'yellow',"
        " '{\"window_min\": 15, \"raise\": 3, \"clear\": 1, \"for_min\": 10}')"
    )
    eng = engine()
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 4.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=5))
    assert changes(db) == []  # above raise, but not yet for 10 min
    eng.evaluate(db, now=T0 + timedelta(minutes=10), sweep=True)
    assert changes(db) == []
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=15), 1.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=15))
    assert [k for _, k, *_ in changes(db)] == ["opened"]
    # 15-min sum falls under 1 mm at 30 min; resolved only 10 min later.
    eng.evaluate(db, now=T0 + timedelta(minutes=30), sweep=True)
    eng.evaluate(db, now=T0 + timedelta(minutes=35), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened"]
    eng.evaluate(db, now=T0 + timedelta(minutes=40), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened", "resolved"]


def test_raise_interrupted_before_for_duration_opens_nothing(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db)
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('cumul 15 min', 'accumulation', 'station', '*', 'yellow',"
        " '{\"window_min\": 15, \"raise\": 3, \"clear\": 1, \"for_min\": 20}')"
    )
    eng = engine()
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 4.0)
    for m in range(5, 60, 5):
        eng.evaluate(db, now=T0 + timedelta(minutes=m), sweep=True)
    assert changes(db) == []
    assert db.execute("SELECT count(*) FROM rule_state").fetchone() == (0,)


def test_engine_restart_mid_storm_repeats_and_misses_nothing(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    first = engine()
    feed = storm(T0, STORM)
    for ts, mm in feed[:5]:
        add_rain(db, "thourotte-mairie", ts, mm)
        first.evaluate(db, ["thourotte-mairie"], now=ts)
    assert [k for _, k, *_ in changes(db)] == ["opened"]
    del first  # the process dies: nothing of it survives but the database
    # While it is down, the storm goes on and no notification is heard.
    for ts, mm in feed[5:7]:
        add_rain(db, "thourotte-mairie", ts, mm)
    second = engine()
    start = feed[6][0]
    second.evaluate(db, now=start, sweep=True)  # start-up sweep catches up
    second.evaluate(db, now=start, sweep=True)
    for ts, mm in feed[7:]:
        add_rain(db, "thourotte-mairie", ts, mm)
        second.evaluate(db, ["thourotte-mairie"], now=ts)
    for minute in range(1, 121, 5):
        second.evaluate(db, now=feed[-1][0] + timedelta(minutes=minute), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened", "escalated", "deescalated", "resolved"]


class _Boom(Exception):
    pass


def test_crash_inside_a_pass_rolls_back_everything(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    for ts, mm in storm(T0, STORM[:5]):
        add_rain(db, "thourotte-mairie", ts, mm)
    eng = engine()
    original = eng._reminders

    def crash(conn: Conn, now: Any) -> list[int]:
        original(conn, now)
        raise _Boom("killed after writing the incident, before commit")

    eng._reminders = crash  # type: ignore[method-assign]
    with pytest.raises(_Boom):
        eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=25))
    assert changes(db) == []
    assert db.execute("SELECT count(*) FROM incidents").fetchone() == (0,)
    engine().evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=25))
    assert [k for _, k, *_ in changes(db)] == ["opened"]


def test_change_rows_are_notified_in_the_same_transaction(db: Conn, alerts_url: str) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    with psycopg.connect(alerts_url, autocommit=True) as listener:
        listener.execute("LISTEN vigie_incident_change")
        for ts, mm in storm(T0, STORM[:5]):
            add_rain(db, "thourotte-mairie", ts, mm)
        engine().evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=25))
        select.select([listener.fileno()], [], [], 5)
        payloads = [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)]
    ids = [str(r[0]) for r in db.execute("SELECT id FROM incident_changes")]
    assert payloads == ids and len(ids) == 1


def test_commune_scope_uses_the_worst_gauge(db: Conn) -> None:
    make_station(db, "thourotte-a", commune="60636")
    make_station(db, "thourotte-b", commune="60636")
    make_station(db, "ribecourt-a", commune="60537")
    only_rules(db)
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('commune 1 h', 'accumulation', 'commune', '60636', 'orange',"
        " '{\"window_min\": 60, \"raise\": 10, \"clear\": 5}')"
    )
    ts = T0 + timedelta(minutes=5)
    add_rain(db, "thourotte-a", ts, 2.0)
    add_rain(db, "thourotte-b", ts, 12.0)
    add_rain(db, "ribecourt-a", ts, 30.0)
    engine().evaluate(db, ["thourotte-a", "thourotte-b", "ribecourt-a"], now=ts)
    rows = db.execute(
        "SELECT i.scope_kind, i.scope_id, i.communes, c.detail FROM incidents i"
        " JOIN incident_changes c ON c.incident_id = i.id"
    ).fetchall()
    assert len(rows) == 1
    assert rows[0][:3] == ("commune", "60636", ["60636"])
    assert rows[0][3]["station_id"] == "thourotte-b"


def test_payload_of_vigie_readings_is_respected(db: Conn) -> None:
    # The engine only reads the stations it is told about (incremental): an untouched gauge
    # with heavy rain is not evaluated until it is touched or swept.
    make_station(db, "thourotte-a")
    make_station(db, "thourotte-b")
    only_rules(db, "Cumul 1 h%")
    ts = T0 + timedelta(minutes=5)
    add_rain(db, "thourotte-a", ts, 1.0)
    add_rain(db, "thourotte-b", ts, 20.0)
    res = engine().evaluate(db, ["thourotte-a"], now=ts)
    assert res.stations == 1 and changes(db) == []
    engine().evaluate(db, now=ts, sweep=True)
    assert [json.loads(json.dumps(k)) for _, k, *_ in changes(db)] == ["opened"]


@pytest.mark.parametrize("offset_min", [0, 7, 33, 58])
def test_window_sums_match_the_5min_rollup_exactly(db: Conn, offset_min: int) -> None:
    # Windows over 1 h are read from hourly buckets plus 5-min edges; they must equal the sum of
    # the 5-min buckets in the window, whatever the minute of the hour.
    make_station(db, "thourotte-mairie")
    db.execute("SELECT setseed(%s)", (offset_min / 100,))
    db.execute(
        "INSERT INTO rain_5min SELECT 'thourotte-mairie', b, round(random()::numeric, 1), 1"
        " FROM generate_series(%s::timestamptz, %s, interval '5 minutes') b",
        (T0 - timedelta(hours=75), T0 + timedelta(minutes=55)),
    )
    db.execute(
        "INSERT INTO rain_1h SELECT station_id, time_bucket('1 hour', bucket), sum(mm), count(*)"
        " FROM rain_5min GROUP BY 1, 2"
    )
    now = T0 + timedelta(minutes=offset_min)
    snap = load_snapshot(db, load_directory(db), now, ["thourotte-mairie"],
                         growing_season=False, long_windows=True, status=False)
    for w in WINDOWS_MIN:
        exact = db.execute(
            "SELECT coalesce(sum(mm), 0) FROM rain_5min WHERE station_id = 'thourotte-mairie'"
            " AND bucket > %s AND bucket < %s",
            (now - timedelta(minutes=w + 5), now),
        ).fetchone()
        assert exact is not None
        assert snap.depth("thourotte-mairie", w) == pytest.approx(float(exact[0]), abs=1e-6), w


def _simulated_storm(years: int, duration: timedelta) -> list[tuple[Any, float]]:
    """The gauge simulator's Chicago design storm, read as a 0.2 mm tipping bucket every 5 min."""
    storm = ChicagoStorm(T0, duration, montana_for(years))
    out, tips_before = [], 0
    for i in range(1, int(duration.total_seconds() // 300) + 1):
        ts = T0 + timedelta(minutes=5 * i)
        tips = int(storm.cumulative_mm(ts) / 0.2 + 1e-9)
        out.append((ts, round((tips - tips_before) * 0.2, 1)))
        tips_before = tips
    return out


def test_simulator_design_storm_replay_gives_the_expected_incidents(db: Conn) -> None:
    # A 10-year, 2-hour Chicago storm (simulator's Montana set: ~32 mm in its wettest hour).
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%", "Période de retour%")
    eng = engine()
    feed = _simulated_storm(10, timedelta(hours=2))
    for ts, mm in feed:
        add_rain(db, "thourotte-mairie", ts, mm)
        eng.evaluate(db, ["thourotte-mairie"], now=ts)
    for minute in range(1, 24 * 60 + 1, 10):  # the day after: data stops, sweeps only
        eng.evaluate(db, now=feed[-1][0] + timedelta(minutes=minute), sweep=True)
    rows = db.execute(
        "SELECT i.group_key, c.kind, c.level FROM incident_changes c"
        " JOIN incidents i ON i.id = c.incident_id ORDER BY c.id"
    ).fetchall()
    by_group: dict[str, list[tuple[str, str]]] = {}
    for group, kind, level in rows:
        by_group.setdefault(group, []).append((kind, level))
    assert by_group == {
        "accumulation:60": [("opened", "yellow"), ("escalated", "orange"),
                            ("deescalated", "yellow"), ("resolved", "yellow")],
        "return_period": [("opened", "orange"), ("resolved", "orange")],
    }
    assert db.execute("SELECT count(*) FROM incidents WHERE state = 'open'").fetchone() == (0,)
