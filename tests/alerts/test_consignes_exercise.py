"""Consignes in the SMS and the e-mail, and exercise mode, through the real notifier, a real
TimescaleDB and the SMTP/SMS stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from alerts.exercise import create, play_due
from tests.alerts.notify_helpers import (
    add_subscriber,
    dispatching,
    now_utc,
    rain_and_evaluate,
    resolve_all,
    sinks,
    wait_settled,
)
from tests.alerts.rain import only_rules
from tests.factories import make_station
from tests.support import wait_for
from vigie import exercises as ex
from vigie.instructions import DEFAULTS

Conn = psycopg.Connection[Any]


def _mairie(db: Conn, smtp: Any, sms: Any, phone: str, mail: str, *, exercises: bool = False) -> int:
    sid = add_subscriber(
        db,
        "Mairie",
        [{"kind": "sms", "url": sms.apprise_url(phone)}, {"kind": "email", "url": smtp.apprise_url(mail)}],
        communes=("60636",),
    )
    db.execute("UPDATE subscribers SET exercises = %s WHERE id = %s", (exercises, sid))
    return sid


def test_consignes_reach_the_sms_and_the_email_and_the_end_says_it_is_over(
    db: Conn, database_url: str
) -> None:
    make_station(db, "thourotte-mairie", commune="60636")
    only_rules(db, "Cumul 1 h%")
    # Thourotte's own orange consigne; yellow and the end keep the defaults.
    db.execute(
        "INSERT INTO commune_instructions (commune_insee, level, text, sms, updated_by) VALUES"
        " ('60636', 'orange', 'Rue du Port fermée : passez par la D932. Montez à l''étage.',"
        " 'Rue du Port fermee, passez par la D932.', 'test')"
    )
    with sinks() as (smtp, sms):
        _mairie(db, smtp, sms, "+33611111111", "mairie@thourotte.example")
        t = now_utc()
        with dispatching(database_url, group_hold_s=0.0):
            rain_and_evaluate(db, "thourotte-mairie", 18.0, t)
            wait_settled(db)
            rain_and_evaluate(db, "thourotte-mairie", 20.0, t + timedelta(minutes=1))
            wait_settled(db)
            resolve_all(db, "thourotte-mairie", t)
            wait_settled(db)
        texts = [m["text"] for m in sms.messages]
        assert len(texts) == 3, texts
        assert DEFAULTS["yellow"].sms in texts[0] and texts[0].startswith("Vigie ALERTE JAUNE Thourotte")
        assert "Rue du Port fermee, passez par la D932." in texts[1] and "ORANGE" in texts[1]
        assert texts[2].startswith("Vigie FIN D'ALERTE Thourotte") and DEFAULTS["end"].sms in texts[2]
        assert all(len(t_) <= 160 for t_ in texts)
        bodies = [m["body"] for m in smtp.messages]
        assert f"Que faire : {DEFAULTS['yellow'].text}" in bodies[0]
        assert "Que faire : Rue du Port fermée : passez par la D932. Montez à l'étage." in bodies[1]
        assert "L'alerte est terminée" in bodies[2] and DEFAULTS["end"].text in bodies[2]
        assert smtp.messages[2]["subject"].startswith("[Vigie] Fin d'alerte - Thourotte")


SYNTHETIC = {
    "communes": ["60636"],
    "steps": [
        {"after_s": 0, "level": "yellow", "value": 16},
        {"after_s": 60, "level": "red", "value": 48},
        {"after_s": 120, "level": None},
    ],
}


def test_exercise_goes_only_to_opted_in_subscribers_marked_exercice_with_cap_status(
    db: Conn, database_url: str
) -> None:
    with sinks() as (smtp, sms):
        _mairie(db, smtp, sms, "+33611111111", "volontaire@thourotte.example", exercises=True)
        _mairie(db, smtp, sms, "+33622222222", "autre@thourotte.example", exercises=False)
        t0 = datetime.now(UTC)  # the wall clock: the report compares it with deliveries.sent_at
        body = ex.ExerciseIn.model_validate({"name": "PCS 2026", "synthetic": SYNTHETIC, "speed": 60})
        exercise_id = create(db, body, "test", t0)
        with dispatching(database_url, group_hold_s=0.0):
            # The steps are 1 s apart at 60x; play them at their due times.
            for k in range(3):
                assert len(play_due(db, t0 + timedelta(seconds=k + 0.01))) == 1
                wait_settled(db)
                if k == 0:
                    # Acknowledged by the person on duty, as during a real alert.
                    db.execute(
                        "SELECT vigie_acknowledge_incident((SELECT incident_id FROM exercises"
                        " WHERE id = %s), 'astreinte', 'exercice')",
                        (exercise_id,),
                    )
        got = [m for m in sms.messages if m["to"] == "+33611111111"]
        assert [m["text"].split()[0] for m in got] == ["EXERCICE"] * 3
        assert [m for m in sms.messages if m["to"] == "+33622222222"] == []
        mails = [m for m in smtp.messages if "volontaire@thourotte.example" in m["rcpt_tos"]]
        assert len(mails) == 3 and all(m["subject"].startswith("EXERCICE") for m in mails)
        assert all(m["body"].startswith("EXERCICE") for m in mails)
        assert not [m for m in smtp.messages if "autre@thourotte.example" in m["rcpt_tos"]]

        # The engine's sweep never touches an exercise incident (no rule drives it).
        inc = db.execute("SELECT title, state, exercise_id FROM incidents").fetchone()
        assert inc is not None and inc[0].startswith("EXERCICE — ") and inc[1] == "resolved"

        from alerts.cap import write_pending

        assert write_pending(db) == 3
        statuses = [r[0] for r in db.execute("SELECT xml FROM cap_messages ORDER BY id").fetchall()]
        assert all("<status>Exercise</status>" in x and "<headline>EXERCICE" in x for x in statuses)

        with db.cursor(row_factory=dict_row) as cur:
            e = cur.execute(ex.EXERCISE_SQL, (exercise_id,)).fetchone()
            steps = cur.execute(ex.REPORT_SQL, (exercise_id,)).fetchall()
        assert e is not None
        rep = ex.report(e, steps)
        assert [s["kind"] for s in rep["steps"]] == ["opened", "escalated", "resolved"]
        assert rep["crossing_to_first_sms_s"] is not None and 0 <= rep["crossing_to_first_sms_s"] < 20
        assert rep["crossing_to_acknowledgement_s"] is not None and rep["crossing_to_acknowledgement_s"] > 0
        assert all(s["accepted"] == 2 for s in rep["steps"])  # SMS + e-mail of the volunteer
        # The exercise's deliveries extend the proof chain like a real incident's.
        from vigie import proof

        verdict = proof.verify(db, int(rep["incident_id"]), None)
        assert verdict.ok and verdict.rows >= 12  # 6 deliveries, queued + accepted each


def test_a_real_alert_during_an_exercise_is_never_merged_into_it(db: Conn, database_url: str) -> None:
    make_station(db, "thourotte-mairie", commune="60636")
    only_rules(db, "Cumul 1 h%")
    with sinks() as (smtp, sms):
        _mairie(db, smtp, sms, "+33611111111", "volontaire@thourotte.example", exercises=True)
        t0 = now_utc()
        body = ex.ExerciseIn.model_validate({"name": "PCS", "synthetic": SYNTHETIC, "speed": 1})
        create(db, body, "test", t0)
        with dispatching(database_url, group_hold_s=2.0):
            play_due(db, t0)
            rain_and_evaluate(db, "thourotte-mairie", 18.0, t0)
            wait_for(lambda: len(sms.messages) == 2, timeout=20)
            wait_settled(db)
        texts = sorted(m["text"] for m in sms.messages)
        assert texts[0].startswith("EXERCICE Vigie ALERTE JAUNE")
        assert texts[1].startswith("Vigie ALERTE JAUNE") and "EXERCICE" not in texts[1]


@pytest.mark.parametrize(
    ("storm", "reason"),
    [
        ({**SYNTHETIC, "steps": [{"after_s": 0, "level": None}, {"after_s": 1, "level": None}]}, "première"),
        (
            {**SYNTHETIC, "steps": [{"after_s": 0, "level": "red"}, {"after_s": 1, "level": "red"}]},
            "dernière",
        ),
        ({**SYNTHETIC, "steps": [{"after_s": 5, "level": "red"}, {"after_s": 1, "level": None}]}, "croître"),
        ({**SYNTHETIC, "communes": ["75056"]}, "pattern"),
        ({**SYNTHETIC, "title": "x" * 10_000}, "200"),
    ],
)
def test_bad_synthetic_storms_are_refused(storm: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ex.ExerciseIn.model_validate({"name": "PCS", "synthetic": storm})


def test_vigie_exercise_start_plays_the_storm_and_prints_its_report(
    db: Conn, database_url: str, tmp_path: Any
) -> None:
    import json
    import os
    import subprocess
    import sys

    storm = tmp_path / "orage.json"
    storm.write_text(json.dumps(SYNTHETIC), "utf-8")
    env = {**os.environ, "VIGIE_DATABASE_URL": database_url, "VIGIE_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigie.cli",
            "exercise",
            "start",
            "--name",
            "PCS CLI",
            "--synthetic",
            str(storm),
            "--speed",
            "3600",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.split("\n", 1)[1])
    assert [s["kind"] for s in report["steps"]] == ["opened", "escalated", "resolved"]
    assert all(s["played_at"] is not None for s in report["steps"]) and report["finished_at"]
    assert db.execute("SELECT state, title FROM incidents").fetchone() == (
        "resolved",
        "EXERCICE — Cumul 1 h — orage simulé",
    )
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigie.cli",
            "exercise",
            "start",
            "--name",
            "x" * 300,
            "--synthetic",
            str(storm),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "exercice refusé" in bad.stderr
