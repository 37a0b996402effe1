"""Consignes and exercises through the HTTP API: public reads, admin writes, hostile input."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN
from vigie.instructions import DEFAULTS

Conn = psycopg.Connection[Any]
THOUROTTE = "/api/v1/communes/60636/instructions"


def test_consignes_are_public_and_an_admin_edits_and_resets_them(client: TestClient) -> None:
    r = client.get(THOUROTTE)
    assert r.status_code == 200
    got = {i["level"]: i for i in r.json()["instructions"]}
    assert list(got) == ["yellow", "orange", "red", "end"]
    assert got["red"]["text"] == DEFAULTS["red"].text and got["red"]["custom"] is False
    body = {"text": "Rue du Port fermée : passez par la D932.", "sms": "Rue du Port fermee, D932."}
    assert client.put(f"{THOUROTTE}/orange", json=body).status_code == 401
    put = client.put(f"{THOUROTTE}/orange", json=body, headers=ADMIN)
    assert put.status_code == 200, put.text
    orange = next(i for i in put.json()["instructions"] if i["level"] == "orange")
    assert orange["custom"] and orange["text"] == body["text"] and orange["updated_by"] == "admin"
    everyone = client.get("/api/v1/instructions").json()
    assert len(everyone) == 16
    assert next(c for c in everyone if c["insee"] == "60636")["instructions"][1]["sms"] == body["sms"]
    assert next(c for c in everyone if c["insee"] == "60378")["instructions"][1]["custom"] is False
    reset = client.delete(f"{THOUROTTE}/orange", headers=ADMIN)
    assert reset.status_code == 200
    assert reset.json()["instructions"][1] == {
        **reset.json()["instructions"][1],
        "custom": False,
        "text": DEFAULTS["orange"].text,
    }


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        (f"{THOUROTTE}/orange", {"text": "x" * 10_000, "sms": "ok"}, 422, "1000"),
        (f"{THOUROTTE}/orange", {"text": "ok", "sms": "x" * 91}, 422, "90"),
        (f"{THOUROTTE}/orange", {"text": "ok\x00", "sms": "ok"}, 422, "contrôle"),
        (f"{THOUROTTE}/orange", {"text": "ok", "sms": "deux\nlignes"}, 422, "ligne"),
        (f"{THOUROTTE}/orange", {"text": "ok", "sms": "ok", "extra": 1}, 422, "extra"),
        (f"{THOUROTTE}/purple", {"text": "ok", "sms": "ok"}, 422, "level"),
        ("/api/v1/communes/60999/instructions/red", {"text": "ok", "sms": "ok"}, 404, "60999"),
        ("/api/v1/communes/<script>/instructions/red", {"text": "ok", "sms": "ok"}, 422, "insee"),
    ],
)
def test_bad_consignes_are_refused(
    client: TestClient, path: str, body: dict[str, Any], status: int, reason: str
) -> None:
    r = client.put(path, json=body, headers=ADMIN)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"] and "x" * 100 not in r.text


def test_xss_in_a_consigne_is_stored_as_text_and_returned_as_json(client: TestClient) -> None:
    body = {"text": "<script>alert(1)</script>", "sms": "<b>ok</b>"}
    assert client.put(f"{THOUROTTE}/red", json=body, headers=ADMIN).status_code == 200
    r = client.get(THOUROTTE)
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["instructions"][2]["text"] == "<script>alert(1)</script>"


SYNTHETIC = {
    "communes": ["60636"],
    "steps": [{"after_s": 0, "level": "orange", "value": 31}, {"after_s": 600, "level": None}],
}


def test_an_admin_starts_an_exercise_and_reads_its_report(client: TestClient, db: Conn) -> None:
    body = {"name": "Exercice PCS 2026", "synthetic": SYNTHETIC, "speed": 10, "start_in_s": 3600}
    assert client.post("/api/v1/exercises", json=body).status_code == 401
    r = client.post("/api/v1/exercises", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["steps"] == 2
    due = db.execute("SELECT kind, due_at FROM exercise_steps ORDER BY seq").fetchall()
    assert [k for k, _ in due] == ["opened", "resolved"]
    assert (due[1][1] - due[0][1]).total_seconds() == 60  # 600 s at 10x
    report = client.get(f"/api/v1/exercises/{r.json()['id']}/report", headers=ADMIN)
    assert report.status_code == 200, report.text
    rep = report.json()
    assert rep["created_by"] == "admin" and rep["crossing_at"] is None  # not played yet
    assert [s["played_at"] for s in rep["steps"]] == [None, None]
    assert client.get(f"/api/v1/exercises/{r.json()['id']}/report").status_code == 401
    assert client.get("/api/v1/exercises/999/report", headers=ADMIN).status_code == 404


def test_replaying_a_past_incident(client: TestClient, db: Conn) -> None:
    from tests.alerts.rain import T0, add_rain, engine, only_rules
    from tests.factories import make_station

    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    add_rain(db, "thourotte-mairie", T0, 20.0)
    engine().evaluate(db, ["thourotte-mairie"], now=T0)
    iid = db.execute("SELECT id FROM incidents").fetchone()
    assert iid is not None
    r = client.post(
        "/api/v1/exercises", json={"name": "Rejeu", "incident_id": iid[0], "speed": 60}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    # Opened, never resolved: the replay adds its end.
    kinds = [k for (k,) in db.execute("SELECT kind FROM exercise_steps ORDER BY seq").fetchall()]
    assert kinds == ["opened", "resolved"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"name": "x" * 10_000, "synthetic": SYNTHETIC}, 422, "200"),
        ({"name": "a", "synthetic": SYNTHETIC, "incident_id": 1}, 422, "pas les deux"),
        ({"name": "a"}, 422, "pas les deux"),
        ({"name": "a", "incident_id": 424242}, 404, "424242"),
        ({"name": "a", "synthetic": {**SYNTHETIC, "communes": ["60999"]}}, 422, "60999"),
        ({"name": "a", "synthetic": SYNTHETIC, "speed": 0}, 422, "speed"),
        (
            {"name": "<script>", "synthetic": {**SYNTHETIC, "steps": [{"after_s": -1, "level": "red"}]}},
            422,
            "after_s",
        ),
    ],
)
def test_bad_exercises_are_refused(
    client: TestClient, body: dict[str, Any], status: int, reason: str
) -> None:
    r = client.post("/api/v1/exercises", json=body, headers=ADMIN)
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"] and "<script>" not in r.text


def test_subscribers_opt_into_exercises_and_exercise_incidents_say_so(client: TestClient, db: Conn) -> None:
    body = {
        "name": "Mairie",
        "communes": ["60636"],
        "exercises": True,
        "channels": [{"kind": "sms", "url": "smseagle://tok@sms.example.org/+33611111111"}],
    }
    made = client.post("/api/v1/subscribers", json=body, headers=ADMIN)
    assert made.status_code == 201 and made.json()["exercises"] is True
    off = client.patch(f"/api/v1/subscribers/{made.json()['id']}", json={"exercises": False}, headers=ADMIN)
    assert off.json()["exercises"] is False
    assert db.execute("SELECT exercises FROM subscribers").fetchone() == (False,)

    from datetime import UTC, datetime

    from alerts.exercise import create, play_due
    from vigie.exercises import ExerciseIn

    create(db, ExerciseIn.model_validate({"name": "PCS", "synthetic": SYNTHETIC}), "test", datetime.now(UTC))
    play_due(db, datetime.now(UTC))
    public = client.get("/api/v1/incidents").json()["items"]
    assert len(public) == 1 and public[0]["exercise_id"] is not None
    assert public[0]["title"].startswith("EXERCICE — ")
    page = client.get(f"/incidents/{public[0]['id']}")
    assert page.status_code == 200 and "EXERCICE" in page.text
