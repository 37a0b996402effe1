"""Rule definitions (refused with a clear reason) and each kind's evaluator on the real DB."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.engine import RuleState, load_rules, step
from alerts.rules import KINDS
from tests.alerts.rain import T0, add_rain, changes, engine, only_rules, storm
from tests.factories import make_station
from vigie.alert_rules import PARAMS_BY_KIND, parse_params, validate_rule
from vigie.errors import ValidationFailed

Conn = psycopg.Connection[Any]


def _rule(kind: str, params: dict[str, Any], scope_kind: str = "station",
          scope_id: str = "*", level: str = "orange") -> dict[str, Any]:
    return {"name": "r", "kind": kind, "scope_kind": scope_kind, "scope_id": scope_id,
            "level": level, "params": params}


def test_every_kind_has_a_row_in_the_table() -> None:
    assert set(KINDS) == set(PARAMS_BY_KIND)
    assert KINDS["station_health"].audience == "technicians"
    assert all(k.audience == "public" for n, k in KINDS.items() if n != "station_health")


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (_rule("accumulation", {"window_min": 60, "raise": 10, "clear": 12}),
         "seuil de fin (12.0) doit être strictement sous"),
        (_rule("accumulation", {"window_min": 60, "raise": 10, "clear": 10}), "clignote"),
        (_rule("accumulation", {"window_min": 45, "raise": 10, "clear": 5}),
         "fenêtre de 45 min inconnue"),
        (_rule("accumulation", {"window_min": 60, "raise": 0, "clear": 0}),
         "strictement positif"),
        (_rule("accumulation", {"window_min": 60, "raise": -3, "clear": -5}),
         "greater than or equal"),
        (_rule("accumulation", {"window_min": 60, "raise": "NaN", "clear": 1}), "finite"),
        (_rule("accumulation", {"window_min": 60, "raise": 10, "clear": 5, "extra": 1}),
         "Extra inputs"),
        (_rule("accumulation", {"window_min": 60, "raise": 10, "clear": 5, "for_min": 99999}),
         "less than or equal"),
        (_rule("return_period", {"raise": 200, "clear": 50}), "hors de la table Montana"),
        (_rule("return_period", {"raise": 2, "clear": 1}), "hors de la table Montana"),
        (_rule("return_period", {"raise": 10, "clear": 5, "windows": [4320]}),
         "fenêtre de 4320 min inconnue"),
        (_rule("runoff", {"raise": 10, "clear": 5}), "ne peut pas porter sur un(e) station"),
        (_rule("station_health", {"check": "low_battery", "raise": 3.6, "clear": 3.4}),
         "au-dessus du seuil de déclenchement"),
        (_rule("station_health", {"check": "no_data", "raise": 3, "clear": 1},
               scope_kind="commune", scope_id="60636"), "ne peut pas porter"),
        (_rule("station_health", {"check": "no_data", "raise": 0.5, "clear": 0.1}),
         "au moins 1"),
        (_rule("station_health", {"check": "teleport", "raise": 3, "clear": 1}), "check"),
        (_rule("accumulation", {"window_min": 60, "raise": 10, "clear": 5},
               scope_kind="commune", scope_id="thourotte"), "code INSEE"),
        (_rule("accumulation", {"window_min": 60, "raise": 10, "clear": 5},
               scope_id="X" * 300), "scope_id"),
        (_rule("flood", {"raise": 10, "clear": 5}), "kind"),
        ({"name": "r", "kind": "accumulation"}, "Field required"),
    ],
)
def test_bad_rules_refused_with_a_clear_reason(rule: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationFailed, match="règle refusée") as err:
        validate_rule(rule)
    assert reason in str(err.value)


def test_good_rules_accepted_and_defaults_applied() -> None:
    r = validate_rule(_rule("station_health", {"check": "low_battery", "raise": 3.4, "clear": 3.5}))
    assert r.effective_audience() == "technicians"
    p = r.typed_params()
    assert p.is_below() and p.raise_ == 3.4
    r2 = validate_rule(_rule("return_period", {"raise": 10, "clear": 5}))
    assert r2.effective_audience() == "public"
    assert parse_params("intensity", {"raise": 30, "clear": 15}).for_min == 0


def test_stored_rule_that_became_invalid_is_skipped_not_fatal(db: Conn) -> None:
    only_rules(db, "Cumul 1 h — jaune")
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('cassée', 'accumulation', 'station', '*', 'red', '{\"window_min\": 7}')"
    )
    names = [r.name for r in load_rules(db)]
    assert names == ["Cumul 1 h — jaune"]


def test_step_below_direction() -> None:
    p = parse_params("station_health", {"check": "low_battery", "raise": 3.4, "clear": 3.5})
    s = step(RuleState(), 3.3, p, T0)
    assert s.active
    assert step(s, 3.45, p, T0).active  # between: holds
    assert not step(s, 3.6, p, T0).active


def test_intensity_rule_uses_time_between_tips(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db)
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('int', 'intensity', 'station', '*', 'orange', '{\"raise\": 30, \"clear\": 10}')"
    )
    eng = engine()
    # 3 mm in 5 min = 36 mm/h.
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 3.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=5))
    row = db.execute("SELECT kind, value, detail FROM incident_changes").fetchone()
    assert row is not None and row[0] == "opened"
    assert row[1] == pytest.approx(36.0)
    assert "36,0 mm/h" in row[2]["summary"]
    # The rate decays after the rain stops: 3 mm over 20 min = 9 mm/h < clear -> resolved.
    eng.evaluate(db, now=T0 + timedelta(minutes=20), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened", "resolved"]


def test_return_period_rule_apic_levels(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Période de retour%")
    eng = engine()
    # Example set: 30 mm in 1 h ~ 10 years (orange), 45 mm ~ 50 years (red); 31.2 mm here.
    for ts, mm in storm(T0, [2.6] * 12):
        add_rain(db, "thourotte-mairie", ts, mm)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(hours=1))
    first = db.execute("SELECT level, value, window_min, detail FROM incident_changes").fetchone()
    assert first is not None
    assert first[0] == "orange" and first[1] >= 10 and first[2] == 60
    assert first[3]["inputs"]["montana_example"] is True
    for ts, mm in storm(T0 + timedelta(hours=1), [4.0] * 6):  # 55 mm in 1.5 h
        add_rain(db, "thourotte-mairie", ts, mm)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=90))
    got = [(k, lvl) for _, k, lvl, *_ in changes(db)]
    assert got == [("opened", "orange"), ("escalated", "red")]


def test_runoff_rule_areal_rain_scs_cn_and_amc(db: Conn) -> None:
    make_station(db, "matz-amont", commune="60378")
    make_station(db, "matz-aval", commune="60378")
    only_rules(db)
    db.execute(
        "INSERT INTO catchments (id, name, area_km2, cn2, communes) VALUES"
        " ('matz', 'Matz', 10.0, 80, '{60378}')"
    )
    db.execute(
        "INSERT INTO catchment_stations VALUES ('matz', 'matz-amont', 3), ('matz', 'matz-aval', 1)"
    )
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('vol', 'runoff', 'catchment', 'matz', 'orange',"
        " '{\"measure\": \"volume_m3\", \"window_min\": 1440, \"raise\": 50000, \"clear\": 20000}')"
    )
    # Dry antecedent (AMC I in November: < 13 mm over 5 days). Amont 40 mm, aval 20 mm:
    # areal = (3*40 + 20)/4 = 35 mm. CN I(80) = 62.7: S = 151.1 mm, Ia = 30.2 -> Q = 0.15 mm.
    ts = T0 + timedelta(hours=2)
    add_rain(db, "matz-amont", ts, 40.0)
    add_rain(db, "matz-aval", ts, 20.0)
    engine().evaluate(db, ["matz-amont"], now=ts)
    assert changes(db) == []
    state = db.execute("SELECT last_value FROM rule_state").fetchall()
    assert state == []  # far below: idle, nothing stored
    # Wet antecedent: 30 mm three days before -> AMC III (CN 90.2): Q = 16.1 mm -> 161,000 m3.
    add_rain(db, "matz-amont", T0 - timedelta(days=3), 30.0)
    add_rain(db, "matz-aval", T0 - timedelta(days=3), 30.0)
    engine().evaluate(db, ["matz-aval"], now=ts)
    row = db.execute("SELECT value, detail FROM incident_changes").fetchone()
    assert row is not None
    inputs = row[1]["inputs"]
    assert inputs["areal_mm"] == pytest.approx(35.0)
    assert inputs["amc"] == 3 and inputs["cn"] == pytest.approx(90.2, abs=0.1)
    assert row[0] == pytest.approx(inputs["q_mm"] * 10_000, rel=0.01)
    assert 150_000 < row[0] < 170_000
    inc = db.execute("SELECT scope_kind, catchment_id, communes FROM incidents").fetchone()
    assert inc == ("catchment", "matz", ["60378"])


def _health_only(db: Conn, check: str) -> None:
    only_rules(db)
    db.execute("UPDATE rules SET enabled = true WHERE params->>'check' = %s", (check,))


def test_health_no_data_goes_to_technicians(db: Conn) -> None:
    make_station(db, "thourotte-mairie")  # expected every 300 s
    _health_only(db, "no_data")
    add_rain(db, "thourotte-mairie", T0, 0.0)
    eng = engine()
    eng.evaluate(db, now=T0 + timedelta(minutes=14), sweep=True)
    assert changes(db) == []
    eng.evaluate(db, now=T0 + timedelta(minutes=16), sweep=True)  # > 3 x 5 min
    inc = db.execute("SELECT audience, level, title FROM incidents").fetchone()
    assert inc is not None and inc[0] == "technicians" and "Station muette" in inc[2]
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=20), 0.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=21))
    assert [k for _, k, *_ in changes(db)] == ["opened", "resolved"]


def test_health_low_battery_clock_skew_and_stuck(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db)
    db.execute(
        "UPDATE rules SET enabled = true, params = params || '{\"for_min\": 0}'"
        " WHERE params->>'check' IN ('low_battery', 'clock_skew', 'stuck_counter')"
    )
    for i, (ts, mm) in enumerate(storm(T0, [0.6] * 12)):
        add_rain(db, "thourotte-mairie", ts, mm, battery_v=3.3, clock_offset_s=400.0 + i)
    engine().evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(hours=1))
    titles = sorted(t for (t,) in db.execute("SELECT title FROM incidents"))
    assert [t.split(" — ")[0] for t in titles] == [
        "Batterie faible", "Compteur bloqué", "Horloge décalée"
    ]


def test_health_clogging_against_neighbours(db: Conn) -> None:
    make_station(db, "thourotte-a", commune="60636")
    make_station(db, "thourotte-b", commune="60636")
    make_station(db, "thourotte-c", commune="60636")
    make_station(db, "far-away", commune="60378")  # ~11 km: outside the 5 km radius
    _health_only(db, "clogging")
    ts = T0 + timedelta(minutes=5)
    add_rain(db, "thourotte-a", ts, 0.0)
    add_rain(db, "thourotte-b", ts, 8.0)
    add_rain(db, "thourotte-c", ts, 6.0)
    add_rain(db, "far-away", ts, 0.0)
    engine().evaluate(db, ["thourotte-a", "far-away"], now=ts)
    rows = db.execute("SELECT scope_id, audience FROM incidents").fetchall()
    assert rows == [("thourotte-a", "technicians")]
    detail = db.execute("SELECT detail FROM incident_changes").fetchone()
    assert detail is not None and detail[0]["inputs"]["neighbours_median_mm"] == 7.0


def test_rule_with_a_specific_scope_only_watches_it(db: Conn) -> None:
    make_station(db, "thourotte-a")
    make_station(db, "thourotte-b")
    only_rules(db)
    db.execute(
        "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params) VALUES"
        " ('b only', 'accumulation', 'station', 'thourotte-b', 'yellow', %s)",
        (json.dumps({"window_min": 15, "raise": 1, "clear": 0.5}),),
    )
    ts = T0 + timedelta(minutes=5)
    add_rain(db, "thourotte-a", ts, 5.0)
    add_rain(db, "thourotte-b", ts, 5.0)
    engine().evaluate(db, ["thourotte-a", "thourotte-b"], now=ts)
    assert [s for (s,) in db.execute("SELECT scope_id FROM incidents")] == ["thourotte-b"]


def test_broken_montana_set_falls_back_and_never_stops_the_engine(
    db: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Période de retour%")
    db.execute(
        "INSERT INTO montana_sets VALUES ('cassee', 'cassée', false, '{\"bands\": \"oops\"}')"
    )
    db.execute("UPDATE montana_assignments SET set_id = 'cassee'")
    for ts, mm in storm(T0, [2.6] * 12):
        add_rain(db, "thourotte-mairie", ts, mm)
    engine().evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(hours=1))
    assert "Montana 'cassee' invalides" in caplog.text
    detail = db.execute("SELECT detail FROM incident_changes").fetchone()
    assert detail is not None and detail[0]["inputs"]["montana_set"] == "exemple-nord"


def test_unknown_and_hostile_station_ids_are_ignored(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    res = engine().evaluate(
        db, ["nope", "'; DROP TABLE rules; --", "x" * 5000, "thourotte-mairie"], now=T0
    )
    assert res.stations == 1
    assert db.execute("SELECT count(*) FROM rules").fetchone() == (17,)


def test_normalized_params_round_trip() -> None:
    r = validate_rule(_rule("return_period", {"raise": 50, "clear": 20}, level="red"))
    stored = r.normalized_params()
    assert stored["raise"] == 50 and stored["windows"] == [60, 120, 180, 360, 720, 1440]
    assert parse_params("return_period", stored) == r.typed_params()
