"""Incidents: acknowledgement, reminders for unacknowledged red, escalation after an ack."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.engine import acknowledge
from alerts.engine_errors import AlertsInputError
from tests.alerts.rain import T0, add_rain, changes, engine, only_rules
from tests.factories import make_station
from vigie.errors import ValidationFailed

Conn = psycopg.Connection[Any]


def _red_storm(db: Conn) -> int:
    """A station under 50 mm in 5 min: a red 1 h accumulation incident; returns its id."""
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 50.0)
    engine(reminder_interval_min=30).evaluate(
        db, ["thourotte-mairie"], now=T0 + timedelta(minutes=5)
    )
    row = db.execute("SELECT id, level FROM incidents").fetchone()
    assert row is not None and row[1] == "red"
    return int(row[0])


def test_reminders_every_interval_until_acknowledged(db: Conn) -> None:
    iid = _red_storm(db)
    eng = engine(reminder_interval_min=20)
    start = T0 + timedelta(minutes=5)
    for minute in range(1, 50):
        eng.evaluate(db, now=start + timedelta(minutes=minute), sweep=True)
    kinds = [(k, n) for _, k, _, _, n in changes(db)]
    assert kinds == [("opened", True), ("reminder", True), ("reminder", True)]
    ats = [a for (a,) in db.execute("SELECT at FROM incident_changes WHERE kind = 'reminder'")]
    assert ats == [start + timedelta(minutes=20), start + timedelta(minutes=40)]
    change = acknowledge(db, iid, "Mme la maire", "Services techniques prévenus")
    assert change is not None
    for minute in range(50, 59):
        eng.evaluate(db, now=start + timedelta(minutes=minute), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened", "reminder", "reminder", "acknowledged"]
    ack = db.execute(
        "SELECT kind, notify, detail FROM incident_changes WHERE id = %s", (change,)
    ).fetchone()
    assert ack is not None and ack[0] == "acknowledged" and ack[1] is False
    assert ack[2]["comment"] == "Services techniques prévenus"
    inc = db.execute("SELECT acknowledged_by, ack_comment FROM incidents").fetchone()
    assert inc == ("Mme la maire", "Services techniques prévenus")


def test_acknowledge_twice_or_resolved_is_a_no_op(db: Conn) -> None:
    iid = _red_storm(db)
    assert acknowledge(db, iid, "technicien") is not None
    assert acknowledge(db, iid, "technicien") is None
    assert acknowledge(db, 999_999, "technicien") is None
    assert [k for _, k, *_ in changes(db)] == ["opened", "acknowledged"]


@pytest.mark.parametrize(
    ("by", "comment"), [("", "x"), ("   ", "x"), ("a" * 201, ""), ("ok", "c" * 2001)]
)
def test_acknowledge_refuses_bad_input(db: Conn, by: str, comment: str) -> None:
    iid = _red_storm(db)
    with pytest.raises(AlertsInputError, match="acquittement refusé") as err:
        acknowledge(db, iid, by, comment)
    assert isinstance(err.value, ValidationFailed)
    assert db.execute("SELECT acknowledged_at FROM incidents").fetchone() == (None,)


def test_hostile_comment_is_stored_as_text(db: Conn) -> None:
    iid = _red_storm(db)
    evil = "'); DROP TABLE incidents; -- <script>alert(1)</script>"
    assert acknowledge(db, iid, "x", evil) is not None
    assert db.execute("SELECT ack_comment FROM incidents").fetchone() == (evil,)


def test_escalation_clears_the_acknowledgement(db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    eng = engine(reminder_interval_min=10)
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 20.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=5))
    (iid,) = db.execute("SELECT id FROM incidents").fetchone() or (0,)
    assert acknowledge(db, int(iid), "technicien") is not None
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=10), 30.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=10))
    eng.evaluate(db, now=T0 + timedelta(minutes=21), sweep=True)
    assert [(k, lvl) for _, k, lvl, *_ in changes(db)] == [
        ("opened", "yellow"), ("acknowledged", "yellow"), ("escalated", "red"),
        ("reminder", "red"),
    ]
    assert db.execute("SELECT acknowledged_at FROM incidents").fetchone() == (None,)


def test_reminders_survive_a_restart_without_repeating(db: Conn) -> None:
    _red_storm(db)
    start = T0 + timedelta(minutes=5)
    engine(reminder_interval_min=30).evaluate(db, now=start + timedelta(minutes=31), sweep=True)
    # A new engine (restart) at the same moment and a bit later: no second reminder yet.
    engine(reminder_interval_min=30).evaluate(db, now=start + timedelta(minutes=31), sweep=True)
    engine(reminder_interval_min=30).evaluate(db, now=start + timedelta(minutes=45), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened", "reminder"]


def test_one_open_incident_per_group_and_scope_is_enforced_by_the_db(db: Conn) -> None:
    _red_storm(db)
    row = db.execute(
        "SELECT rule_id, kind, group_key, scope_kind, scope_id, title, opened_at FROM incidents"
    ).fetchone()
    assert row is not None
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            "INSERT INTO incidents (rule_id, kind, group_key, scope_kind, scope_id, level,"
            " title, opened_at, updated_at, level_since, max_level)"
            " VALUES (NULL, %s, %s, %s, %s, 'yellow', %s, %s, %s, %s, 'yellow')",
            (row[1], row[2], row[3], row[4], row[5], row[6], row[6], row[6]),
        )


def test_disabling_the_rule_resolves_its_open_incident(db: Conn) -> None:
    _red_storm(db)
    db.execute("UPDATE rules SET enabled = false")
    engine().evaluate(db, now=T0 + timedelta(minutes=6), sweep=True)
    assert [k for _, k, *_ in changes(db)] == ["opened", "resolved"]
    detail = db.execute(
        "SELECT detail FROM incident_changes WHERE kind = 'resolved'"
    ).fetchone()
    assert detail is not None and "règle supprimée" in detail[0]["summary"]


def test_two_engines_at_once_write_each_change_once(db: Conn, alerts_url: str) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 50.0)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(alerts_url, autocommit=True) as conn:
                engine().evaluate(conn, ["thourotte-mairie"], now=T0 + timedelta(minutes=5))
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [k for _, k, *_ in changes(db)] == ["opened"]
