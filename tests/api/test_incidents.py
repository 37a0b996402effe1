"""Incidents through the HTTP API: filters, audiences, timeline, acknowledgement, delivery log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from tests.api.conftest import ADMIN

URL = "/api/v1/incidents"
Db = psycopg.Connection[tuple[object, ...]]
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def make_incident(
    db: Db,
    *,
    opened: datetime = T0,
    level: str = "orange",
    state: str = "open",
    audience: str = "public",
    communes: tuple[str, ...] = ("60636",),
    scope_id: str = "thourotte-mairie",
) -> int:
    """An incident as the engine writes it, with its 'opened' change."""
    row = db.execute(
        "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, state, audience,"
        " communes, title, opened_at, updated_at, level_since, max_level, resolved_at, last_value,"
        " window_min) VALUES ('accumulation', 'accumulation:60', 'station', %s, %s, %s, %s, %s,"
        " 'Cumul 1 h — Thourotte', %s, %s, %s, %s, %s, 31.2, 60) RETURNING id",
        (
            scope_id,
            level,
            state,
            audience,
            list(communes),
            opened,
            opened,
            opened,
            level,
            opened + timedelta(hours=2) if state == "resolved" else None,
        ),
    ).fetchone()
    assert row is not None
    inc = int(str(row[0]))
    db.execute(
        "INSERT INTO incident_changes (incident_id, at, kind, level, value, window_min, detail)"
        " VALUES (%s, %s, 'opened', %s, 31.2, 60, %s)",
        (
            inc,
            opened,
            level,
            Jsonb({"summary": "Vigilance orange", "measure": "31,2 mm en 1 h", "inputs": {"internal": 1}}),
        ),
    )
    return inc


def add_delivery(db: Db, incident: int, outcome: str = "accepted") -> None:
    """A subscriber, one delivery of the incident's first change and one attempt."""
    sub = db.execute(
        "INSERT INTO subscribers (name, channels) VALUES ('Maire', %s) RETURNING id",
        (Jsonb([{"kind": "sms", "url": "smseagle://SECRETTOKEN@sms.example.org/+33600000000"}]),),
    ).fetchone()
    change = db.execute("SELECT min(id) FROM incident_changes WHERE incident_id = %s", (incident,)).fetchone()
    assert sub is not None and change is not None
    d = db.execute(
        "INSERT INTO deliveries (incident_change_id, incident_id, subscriber_id, channel_index,"
        " channel_kind, level, group_key, state, attempts, sent_at) VALUES"
        " (%s, %s, %s, 0, 'sms', 'orange', 'g', %s, 1, now()) RETURNING id",
        (change[0], incident, sub[0], outcome),
    ).fetchone()
    assert d is not None
    db.execute(
        "INSERT INTO delivery_attempts (delivery_id, at, outcome, detail) VALUES (%s, now(), %s, 'HTTP 200')",
        (d[0], outcome),
    )


def _ids(r: Any) -> list[int]:
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def test_public_sees_public_incidents_newest_first(client: TestClient, db: Db) -> None:
    old = make_incident(db, opened=T0 - timedelta(days=2), state="resolved")
    new = make_incident(db, opened=T0, scope_id="autre")
    tech = make_incident(db, opened=T0 + timedelta(hours=1), audience="technicians", scope_id="x")
    assert _ids(client.get(URL)) == [new, old]
    assert _ids(client.get(URL, headers=ADMIN)) == [tech, new, old]
    # A technician incident does not exist for the public.
    assert client.get(f"{URL}/{tech}").status_code == 404
    assert client.get(f"{URL}/{tech}", headers=ADMIN).status_code == 200
    assert _ids(client.get(URL, params={"audience": "technicians"})) == []


def test_filters(client: TestClient, db: Db) -> None:
    a = make_incident(db, opened=T0, level="yellow", communes=("60537",))
    b = make_incident(db, opened=T0 + timedelta(hours=3), level="red", scope_id="b")
    c = make_incident(db, opened=T0 + timedelta(days=1), state="resolved", scope_id="c")
    assert _ids(client.get(URL, params={"state": "open"})) == [b, a]
    assert _ids(client.get(URL, params={"state": "resolved"})) == [c]
    assert _ids(client.get(URL, params={"level": "red"})) == [b]
    assert _ids(client.get(URL, params={"commune": "60537"})) == [a]
    window = {"from": "2026-11-20T12:00:00+01:00", "to": "2026-11-21T00:00:00+01:00"}
    assert _ids(client.get(URL, params=window)) == [b]
    page = client.get(URL, params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [b]
    assert client.get(URL, params={"offset": 50}).json() == {
        "total": 3,
        "limit": 50,
        "offset": 50,
        "items": [],
    }


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"state": "closed"}, "state"),
        ({"level": "green"}, "level"),
        ({"commune": "'; DROP TABLE incidents; --"}, "commune"),
        ({"from": "hier"}, "from"),
        ({"from": "2026-11-20T10:00:00"}, "fuseau"),
        ({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "postérieur"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "beaucoup"}, "entier"),
    ],
)
def test_bad_filters_are_clear_errors(client: TestClient, params: dict[str, Any], reason: str) -> None:
    r = client.get(URL, params=params)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"], r.json()["detail"]


def test_detail_has_a_timeline_without_internal_fields_for_the_public(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    client.post(f"{URL}/{inc}/acknowledge", json={"comment": "Services techniques prévenus"}, headers=ADMIN)
    public = client.get(f"{URL}/{inc}").json()
    assert [c["kind"] for c in public["timeline"]] == ["opened", "acknowledged"]
    assert public["acknowledged"] is True
    assert "ack_comment" not in public and "acknowledged_by" not in public
    assert "inputs" not in public["timeline"][0]["detail"]
    assert "comment" not in public["timeline"][1]["detail"] and "notify" not in public["timeline"][0]
    admin = client.get(f"{URL}/{inc}", headers=ADMIN).json()
    assert admin["ack_comment"] == "Services techniques prévenus" and admin["acknowledged_by"] == "admin"
    assert admin["timeline"][1]["detail"]["comment"] == "Services techniques prévenus"


def test_acknowledge(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    assert client.post(f"{URL}/{inc}/acknowledge", json={}).status_code == 401
    r = client.post(f"{URL}/{inc}/acknowledge", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "admin" and r.json()["change_id"] > 0
    again = client.post(f"{URL}/{inc}/acknowledge", json={"comment": "bis"}, headers=ADMIN)
    assert again.status_code == 409 and "déjà pris en compte" in again.json()["detail"]
    done = make_incident(db, state="resolved", scope_id="fini")
    resolved = client.post(f"{URL}/{done}/acknowledge", headers=ADMIN)
    assert resolved.status_code == 409 and "résolu" in resolved.json()["detail"]
    assert client.post(f"{URL}/999999/acknowledge", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"comment": "x" * 1001},
        {"comment": 12},
        {"comment": "a\x00b"},
        {"commentaire": "faute de frappe"},
        ["pas", "un", "objet"],
    ],
)
def test_bad_acknowledgement_is_refused(client: TestClient, db: Db, body: Any) -> None:
    inc = make_incident(db)
    r = client.post(f"{URL}/{inc}/acknowledge", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert db.execute("SELECT acknowledged_at FROM incidents WHERE id = %s", (inc,)).fetchone() == (None,)


def test_delivery_log_is_admin_only_and_has_no_secret(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    add_delivery(db, inc)
    assert client.get(f"{URL}/{inc}/deliveries").status_code == 401
    r = client.get(f"{URL}/{inc}/deliveries", headers=ADMIN)
    assert r.status_code == 200, r.text
    log = r.json()
    assert log["deliveries_by_state"] == {"accepted": 1} and log["total"] == 1
    item = log["items"][0]
    assert (
        item["subscriber_name"] == "Maire" and item["outcome"] == "accepted" and item["channel_kind"] == "sms"
    )
    assert "SECRETTOKEN" not in r.text
    assert client.get(f"{URL}/999999/deliveries", headers=ADMIN).status_code == 404


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    assert client.get(f"{URL}/123456").status_code == 404
    assert client.get(f"{URL}/abc").status_code == 422
    assert client.get(f"{URL}/0").status_code == 422
    assert client.get(f"{URL}/{10**30}").status_code == 422
    big = client.post(
        f"{URL}/1/acknowledge",
        content=b"{" + b" " * 70_000 + b"}",
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert big.status_code == 413


def test_incident_page_is_public_french_html_and_escaped(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    db.execute("UPDATE incidents SET title = %s WHERE id = %s", ("<script>x</script> Cumul", inc))
    r = client.get(f"/incidents/{inc}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Alerte orange" in r.text and "Thourotte" in r.text and "Ouverture" in r.text
    assert "<script>x" not in r.text and "&lt;script&gt;x" in r.text
    # Technician incidents are not on public pages; unknown ids are 404 too.
    tech = make_incident(db, audience="technicians", scope_id="thourotte-eglise")
    assert client.get(f"/incidents/{tech}").status_code == 404
    assert client.get("/incidents/999999").status_code == 404
    assert client.get("/incidents/abc").status_code == 422
