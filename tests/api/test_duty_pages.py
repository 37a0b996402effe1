"""The person on duty's pages and the public incident page, through HTTP on the real database:
open incidents first and the history paginated, the staff page with the rain, the delivery log
and its chain head, acknowledgement by form (CSRF, audit log, refusals in French), escaping of
the comment, and the public page (consignes, map, rain, end, nothing private, cache, 304)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import bearer, role_token
from tests.api.test_accounts import CSRF, PASSWORD, sign_in
from tests.api.test_incidents import add_delivery, make_incident
from tests.factories import make_station, make_user
from vigie import proof

Db = psycopg.Connection[tuple[object, ...]]
DUTY = bearer(role_token("duty"))
VIEWER = bearer(role_token("viewer"))
XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"
GAUGE = "jauge-privee-42"


def _ack_of(db: Db, inc: int) -> tuple[Any, ...] | None:
    return db.execute("SELECT acknowledged_by, ack_comment FROM incidents WHERE id = %s", (inc,)).fetchone()


@pytest.fixture
def david(db: Db, client: TestClient) -> TestClient:
    """A duty officer signed in through the form (a session cookie, so CSRF applies)."""
    make_user(db, "david", ["duty"], password=PASSWORD, display_name="David Astreinte")
    r = sign_in(client, "david", PASSWORD)
    assert r.status_code == 303, r.text
    return client


def _form_token(client: TestClient, inc: int) -> str:
    page = client.get(f"/astreinte/incidents/{inc}")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def _rainy_incident(db: Db, now: datetime) -> int:
    """An open orange incident on a gauge of Thourotte that had 4 + 9 + 6 mm in the hour
    before the opening (5 min buckets), and 1 mm after."""
    make_station(db, GAUGE, commune="60636")
    opened = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5) - timedelta(minutes=30)
    for minutes, mm in ((-50, 4.0), (-25, 9.0), (-10, 6.0), (10, 1.0), (-200, 99.0)):
        db.execute(
            "INSERT INTO rain_5min (station_id, bucket, mm, readings) VALUES (%s, %s, %s, 1)",
            (GAUGE, opened + timedelta(minutes=minutes), mm),
        )
    inc = make_incident(db, opened=opened, scope_id=GAUGE)
    return inc


def test_duty_page_lists_open_incidents_first_then_the_history_newest_first(
    client: TestClient, db: Db
) -> None:
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    opened = make_incident(db, opened=t0 + timedelta(days=20), level="red", scope_id="a")
    closed = [
        make_incident(db, opened=t0 + timedelta(hours=k), state="resolved", scope_id=f"c{k}")
        for k in range(23)
    ]
    r = client.get("/astreinte", headers=DUTY)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    text = r.text
    assert "Incidents ouverts (1)" in text and "Alerte rouge" in text
    assert f'href="/astreinte/incidents/{opened}"' in text
    # The open incident's timeline: its opening, with the measure.
    assert "Ouverture" in text and "31,2 mm en 1 h" in text
    # History: 20 per page, newest first; the open one comes before it.
    assert "Historique (23 incidents terminés)" in text and "Page 1 sur 2" in text
    links = [int(x) for x in re.findall(r'href="/astreinte/incidents/(\d+)"', text)]
    assert links[0] == opened
    history = [x for x in links if x != opened]
    assert history[:3] == [closed[22], closed[21], closed[20]] and len(set(history)) == 20
    second = client.get("/astreinte?page=2", headers=DUTY).text
    assert {int(x) for x in re.findall(r'href="/astreinte/incidents/(\d+)"', second)} - {opened} == {
        closed[2],
        closed[1],
        closed[0],
    }
    # Bad page numbers are refused, not guessed.
    for bad in ("0", "-1", "abc", "501", "9" * 30):
        assert client.get(f"/astreinte?page={bad}", headers=DUTY).status_code == 422, bad


def test_duty_page_puts_the_unacknowledged_and_the_highest_level_first(client: TestClient, db: Db) -> None:
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    older_orange = make_incident(db, opened=t0, level="orange", scope_id="o")
    newer_yellow = make_incident(db, opened=t0 + timedelta(hours=1), level="yellow", scope_id="y")
    acked_red = make_incident(db, opened=t0 + timedelta(hours=2), level="red", scope_id="r")
    db.execute(
        "UPDATE incidents SET acknowledged_at = now(), acknowledged_by = 'david' WHERE id = %s", (acked_red,)
    )
    text = client.get("/astreinte", headers=DUTY).text
    links = [int(x) for x in re.findall(r'<h3 id="incident-(\d+)"', text)]
    assert links == [older_orange, newer_yellow, acked_red]


def test_duty_pages_need_a_staff_role(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    anonymous = client.get("/astreinte")
    assert anonymous.status_code == 401 and "Connexion requise" in anonymous.text
    assert client.get("/astreinte", headers=bearer(role_token("naturalist"))).status_code == 403
    # An official reads the page, without the form or the delivery log.
    page = client.get(f"/astreinte/incidents/{inc}", headers=VIEWER)
    assert page.status_code == 200
    assert "Prendre en compte" not in page.text and "Journal d'envoi" not in page.text
    refused = client.post(
        f"/astreinte/incidents/{inc}/prise-en-compte", headers=VIEWER, data={"comment": "x"}
    )
    assert refused.status_code == 403
    assert _ack_of(db, inc) == (None, None)


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "1.5", "9" * 25, "%00"])
def test_bad_incident_ids_are_refused(client: TestClient, bad: str) -> None:
    assert client.get(f"/astreinte/incidents/{bad}", headers=DUTY).status_code in (404, 422)
    assert client.get(f"/incidents/{bad}").status_code in (404, 422)


def test_an_unknown_incident_is_a_french_404_page(client: TestClient) -> None:
    for url, headers in (("/astreinte/incidents/999999", DUTY), ("/incidents/999999", {})):
        r = client.get(url, headers=headers)
        assert r.status_code == 404 and "Incident introuvable" in r.text, url
        assert r.headers["content-type"].startswith("text/html")


def test_staff_page_shows_the_rain_of_the_window_and_the_delivery_log_with_its_head(
    client: TestClient, db: Db
) -> None:
    inc = _rainy_incident(db, datetime.now(UTC))
    add_delivery(db, inc)
    r = client.get(f"/astreinte/incidents/{inc}", headers=DUTY)
    assert r.status_code == 200, r.text
    data = json.loads(html.unescape(re.search(r'id="pluie-donnees">(.*?)</script>', r.text, re.S).group(1)))  # type: ignore[union-attr]
    assert data["step_s"] == 300 and data["series"][0]["label"] == f"Pluviomètre {GAUGE}"
    # The rule's window (60 min) before the opening, twice over: 99 mm, 200 min before, is out.
    values = [v for v in data["series"][0]["mm"] if v is not None]
    assert values == [4.0, 9.0, 6.0, 1.0]
    lo, hi = data["crossing"]
    assert hi - lo == 3600
    # In words, before any script: 19 mm over the rule's window, 9 mm at most per 5 min.
    assert "19,0 mm" in r.text and "9,0 mm" in r.text
    # The delivery log: masked recipient, never the number or the provider's token.
    assert "Journal d'envoi" in r.text and "+336•••••00" in r.text
    assert "33600000000" not in r.text and "SECRETTOKEN" not in r.text
    assert (
        f"/api/v1/incidents/{inc}/deliveries.pdf" in r.text
        and f"/api/v1/incidents/{inc}/deliveries.csv" in r.text
    )
    head = proof.verify(db, inc).head
    assert f'<code class="chain__head">{head}</code>' in r.text
    # The timeline has the "messages sent" step (1 queued, 1 accepted).
    assert "Messages envoyés" in r.text and "1 message en file, 1 accepté" in r.text


def test_acknowledge_by_form_records_it_in_the_timeline_and_the_audit_log(david: TestClient, db: Db) -> None:
    inc = make_incident(db)
    token = _form_token(david, inc)
    r = david.post(
        f"/astreinte/incidents/{inc}/prise-en-compte",
        data={"csrf_token": token, "comment": "  équipe sur place  "},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/astreinte/incidents/{inc}?fait=pris-en-compte"
    assert _ack_of(db, inc) == ("david", "équipe sur place")
    page = david.get(r.headers["location"]).text
    assert "Incident pris en compte" in page and "Prendre en compte</button>" not in page
    assert "par david" in page and "équipe sur place" in page
    audit = db.execute(
        "SELECT actor, target, host(ip) FROM audit_log WHERE action = 'incident.acknowledged'"
    ).fetchall()
    assert audit == [("david", f"/astreinte/incidents/{inc}/prise-en-compte", "127.0.0.1")]
    # Twice: refused in French, nothing changed, nothing more in the audit log.
    again = david.post(
        f"/astreinte/incidents/{inc}/prise-en-compte", data={"csrf_token": token, "comment": "bis"}
    )
    assert again.status_code == 409 and "déjà pris en compte par david" in again.text
    assert _ack_of(db, inc) == ("david", "équipe sur place")
    count = db.execute("SELECT count(*) FROM audit_log WHERE action = 'incident.acknowledged'").fetchone()
    assert count == (1,)
    resolved = make_incident(db, state="resolved", scope_id="fini")
    done = david.post(f"/astreinte/incidents/{resolved}/prise-en-compte", data={"csrf_token": token})
    assert done.status_code == 409 and "déjà résolu" in done.text
    missing = david.post("/astreinte/incidents/999999/prise-en-compte", data={"csrf_token": token})
    assert missing.status_code == 404


def test_the_form_without_its_csrf_token_is_refused(david: TestClient, db: Db) -> None:
    inc = make_incident(db)
    url = f"/astreinte/incidents/{inc}/prise-en-compte"
    for data in ({"comment": "x"}, {"comment": "x", "csrf_token": "faux"}, {"csrf_token": ""}):
        r = david.post(url, data=data, follow_redirects=False)
        assert r.status_code == 403, (data, r.status_code)
        assert "jeton CSRF manquant ou invalide" in r.text
    assert _ack_of(db, inc) == (None, None)


@pytest.mark.parametrize(
    ("comment", "status", "says"),
    [
        ("x" * 1001, 422, "dépasse 1000 caractères"),
        ("bonjour\x00\x07", 422, "caractères de contrôle"),
    ],
)
def test_a_bad_comment_is_refused_in_french_and_changes_nothing(
    david: TestClient, db: Db, comment: str, status: int, says: str
) -> None:
    inc = make_incident(db)
    token = _form_token(david, inc)
    r = david.post(
        f"/astreinte/incidents/{inc}/prise-en-compte", data={"csrf_token": token, "comment": comment}
    )
    assert r.status_code == status and says in r.text
    assert _ack_of(db, inc) == (None, None)


def test_an_oversized_or_non_form_body_is_refused(david: TestClient, db: Db) -> None:
    inc = make_incident(db)
    token = _form_token(david, inc)
    url = f"/astreinte/incidents/{inc}/prise-en-compte"
    big = david.post(url, data={"csrf_token": token, "comment": "x" * 70_000})
    assert big.status_code == 413
    as_json = david.post(url, json={"comment": "x"}, headers={"X-CSRF-Token": token})
    assert as_json.status_code == 415
    assert _ack_of(db, inc) == (None, None)


def test_a_hostile_comment_is_shown_as_text(david: TestClient, db: Db) -> None:
    inc = make_incident(db)
    token = _form_token(david, inc)
    r = david.post(f"/astreinte/incidents/{inc}/prise-en-compte", data={"csrf_token": token, "comment": XSS})
    assert r.status_code == 200, r.text  # followed the redirect
    for url in (f"/astreinte/incidents/{inc}", "/astreinte"):
        text = david.get(url).text
        assert "<script>alert" not in text and "<img src=x" not in text, url
        if url != "/astreinte":
            assert html.escape(XSS, quote=False) in text or "&lt;script&gt;alert(" in text
    # The public page shows neither the comment nor who acknowledged.
    public = TestClient(david.app).get(f"/incidents/{inc}").text
    assert "alert(" not in public and "david" not in public
    assert "Prise en compte" in public and "par la personne d&#39;astreinte" in public


def test_public_page_has_the_consignes_map_rain_and_nothing_private(client: TestClient, db: Db) -> None:
    inc = _rainy_incident(db, datetime.now(UTC))
    add_delivery(db, inc)
    db.execute(
        "UPDATE incidents SET acknowledged_at = now(), acknowledged_by = 'david',"
        " ack_comment = 'note interne' WHERE id = %s",
        (inc,),
    )
    db.execute(
        "INSERT INTO commune_instructions (commune_insee, level, text, sms, updated_by)"
        " VALUES ('60636', 'orange', 'Montez à l''étage, rue du Matz comprise.', 'Montez à l''étage', 't')"
    )
    r = client.get(f"/incidents/{inc}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    text = r.text
    assert "Alerte orange" in text and "En cours" in text and "en cours" in text
    assert "Que faire ?" in text and "Montez à l&#39;étage, rue du Matz comprise." in text
    # The small map: an inline SVG with the 16 outlines, Thourotte in the level's colour.
    assert text.count('<path class="small-map__commune') == 16
    assert text.count("small-map__commune--orange") == 1 and ">Thourotte</text>" in text
    assert "IGN Admin Express" in text
    # The rain, merged: one series named for no gauge.
    data = json.loads(html.unescape(re.search(r'id="pluie-donnees">(.*?)</script>', text, re.S).group(1)))  # type: ignore[union-attr]
    assert [s["label"] for s in data["series"]] == ["Pluie (le plus fort des pluviomètres)"]
    assert "19,0 mm" in text
    # Nothing private: no gauge id, no subscriber, no who or why of the acknowledgement.
    for private in (GAUGE, "Maire", "33600000000", "david", "note interne", "Journal d'envoi"):
        assert private not in text, private


def test_public_page_says_when_it_ended_with_the_end_consigne(client: TestClient, db: Db) -> None:
    inc = make_incident(db, state="resolved")
    text = client.get(f"/incidents/{inc}").text
    assert (
        "Terminée le 20 novembre 2026 à 13:00" in text
        and "C'est terminé" in text
        and "Fin d&#39;alerte" in text
    )
    assert "en cours" not in text.lower()


def test_public_page_is_cached_and_answers_304(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    r = client.get(f"/incidents/{inc}")
    assert r.headers["cache-control"] == "public, max-age=30"
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    same = client.get(f"/incidents/{inc}", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    # A change (here the level) changes the page, its tag, and the 304 no longer applies.
    db.execute("UPDATE incidents SET level = 'red' WHERE id = %s", (inc,))
    changed = client.get(f"/incidents/{inc}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and "Alerte rouge" in changed.text
    # A signed-in visitor's copy is theirs: never kept by a shared cache.
    staff = client.get(f"/incidents/{inc}", headers=DUTY)
    assert staff.headers["cache-control"] == "private, no-cache"


def test_the_person_on_duty_goes_from_the_sms_page_to_their_own(client: TestClient, db: Db) -> None:
    inc = make_incident(db)
    staff = client.get(f"/incidents/{inc}", headers=DUTY).text
    assert f'href="/astreinte/incidents/{inc}"' in staff and "se connecter pour prendre" not in staff
    public = client.get(f"/incidents/{inc}").text
    assert f'href="/astreinte/incidents/{inc}"' not in public
    assert f'href="/connexion?suivant=%2Fastreinte%2Fincidents%2F{inc}"' in public


def test_the_rain_comes_from_the_gauges_of_a_catchment_or_a_commune(client: TestClient, db: Db) -> None:
    for sid, insee in (("amont", "60537"), ("aval", "60636"), ("eteint", "60636"), ("ville", "60636")):
        make_station(db, sid, commune=insee)
    db.execute("UPDATE stations SET active = false WHERE id = 'eteint'")
    db.execute(
        "INSERT INTO catchments (id, name, area_km2, cn2, communes) VALUES"
        " ('matz', 'Matz', 12.5, 74, ARRAY['60636'])"
    )
    db.execute(
        "INSERT INTO catchment_stations (catchment_id, station_id, weight) VALUES"
        " ('matz', 'aval', 0.3), ('matz', 'amont', 0.7)"
    )
    basin = make_incident(db, scope_id="matz")
    commune = make_incident(db, scope_id="60636")
    db.execute("UPDATE incidents SET scope_kind = 'catchment' WHERE id = %s", (basin,))
    db.execute("UPDATE incidents SET scope_kind = 'commune' WHERE id = %s", (commune,))

    def labels(inc: int) -> list[str]:
        text = client.get(f"/astreinte/incidents/{inc}", headers=DUTY).text
        found = re.search(r'id="pluie-donnees">(.*?)</script>', text, re.S)
        assert found is not None
        return [s["label"] for s in json.loads(html.unescape(found.group(1)))["series"]]

    # The catchment's gauges by weight; the commune's active gauges (not the retired one).
    assert labels(basin) == ["Pluviomètre amont", "Pluviomètre aval"]
    assert labels(commune) == ["Pluviomètre aval", "Pluviomètre ville"]
