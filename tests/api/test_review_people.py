"""People in the frame (issue 11 §1, RGPD): a naturalist's flag (API, bulk), the detector's
proposal, and what a viewer can no longer reach: list, detail, media, observations, species
summary, statistics and calendar pages. The export's side is in test_camtrap_people.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from tests.api.review_support import (
    ADMIN,
    NATURALIST,
    T0,
    VIEWER,
    Conn,
    event_with_clip,
    make_camera,
    make_event,
    media_dir,
    review,
)

__all__ = ["media_dir", "review"]


def propose(db: Conn, event_id: int, proposed: bool = True, score: float = 1.2) -> None:
    """The camera worker's proposal, as it writes it."""
    db.execute(
        "INSERT INTO person_proposals (event_id, proposed, score, boxes, frames, detector)"
        " VALUES (%s, %s, %s, %s, 3, 'opencv-hog')",
        (
            event_id,
            proposed,
            score,
            Jsonb([{"t": 1.0, "x": 0.3, "y": 0.1, "w": 0.2, "h": 0.6, "score": score}]),
        ),
    )


def observe(client: TestClient, event_id: int, name: str = "Capreolus capreolus") -> int:
    """An observation by a naturalist, through the API (so that it has its history)."""
    r = client.post(
        f"/api/v1/events/{event_id}/observations", json={"scientific_name": name}, headers=NATURALIST
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[int]:
    r = client.get("/api/v1/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["items"]]


def test_manual_flag_hides_the_event_from_a_viewer_everywhere(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    make_camera(db)
    walker, _ = event_with_clip(db, media_dir, start=T0)
    deer, _ = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=5))
    obs_walker, obs_deer = observe(review, walker), observe(review, deer)
    assert sorted(ids(review, VIEWER)) == sorted([walker, deer])

    r = review.patch(f"/api/v1/events/{walker}", json={"person": True}, headers=NATURALIST)
    assert r.status_code == 200, r.text
    person = r.json()["person"]
    assert person["flag"] is True and person["hidden"] is True and person["flagged_by"]

    # The viewer: gone from the list and its total, and every route answers as for an unknown event.
    assert ids(review, VIEWER) == [deer]
    assert review.get("/api/v1/events", params={"with_total": "true"}, headers=VIEWER).json()["total"] == 1
    for template in (
        "/api/v1/events/{e}",
        "/api/v1/events/{e}/clip",
        "/api/v1/events/{e}/snapshot",
        "/api/v1/events/{e}/thumbnail",
        "/api/v1/events/{e}/poster",
        "/api/v1/events/{e}/observations",
        "/api/v1/observations/{o}",
        "/api/v1/observations/{o}/history",
    ):
        got = review.get(template.format(e=walker, o=obs_walker), headers=VIEWER)
        assert got.status_code == 404, (template, got.status_code)
        assert "personne" not in got.text  # nothing says why
        # The deer's same routes still answer the viewer.
        same = review.get(template.format(e=deer, o=obs_deer), headers=VIEWER)
        assert same.status_code == 200, (template, same.status_code)
    # Naturalists and admins still see it, and may filter on it.
    for who in (NATURALIST, ADMIN):
        assert sorted(ids(review, who)) == sorted([walker, deer])
        assert review.get(f"/api/v1/events/{walker}/clip", headers=who).status_code == 200
    assert ids(review, NATURALIST, person="true") == [walker]
    assert ids(review, NATURALIST, person="false") == [deer]

    # Species summary: the viewer's counts leave the walker's event out; a naturalist's do not.
    def events_counted(headers: dict[str, str]) -> int:
        body = review.get("/api/v1/species-summary", headers=headers).json()
        return sum(i["events"] for i in body["items"])

    assert events_counted(VIEWER) == 1 and events_counted(NATURALIST) == 2


def test_flag_is_audited_and_clearing_a_proposal_shows_the_event_again(
    review: TestClient, db: Conn, database_url: str
) -> None:
    make_camera(db)
    eid = make_event(db)
    propose(db, eid)
    # The detector's proposal alone hides it (the safe default).
    assert ids(review, VIEWER) == []
    detail = review.get(f"/api/v1/events/{eid}", headers=NATURALIST).json()
    assert detail["person"] == {
        "flag": None,
        "flagged_by": None,
        "flagged_at": None,
        "proposed": True,
        "score": 1.2,
        "hidden": True,
    }
    assert detail["person_boxes"][0]["h"] == 0.6
    # A naturalist clears it: no person, whatever the detector said.
    r = review.patch(f"/api/v1/events/{eid}", json={"person": False}, headers=NATURALIST)
    assert r.json()["person"]["hidden"] is False
    assert ids(review, VIEWER) == [eid]
    # Withdrawing the word (null) brings the proposal back.
    review.patch(f"/api/v1/events/{eid}", json={"person": None}, headers=NATURALIST)
    assert ids(review, VIEWER) == []
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'events.person_flag' ORDER BY id"
        ).fetchall()
    assert [r[1]["person"] for r in rows] == [False, None]
    assert rows[0][1]["events"] == [{"id": eid, "before": None, "proposed": True}]
    assert rows[1][1]["events"] == [{"id": eid, "before": False, "proposed": True}]


def test_bulk_flag_and_clear(review: TestClient, db: Conn) -> None:
    make_camera(db)
    events = [make_event(db, start=T0 + timedelta(minutes=i)) for i in range(3)]
    r = review.post(
        "/api/v1/bulk/events", json={"ids": [*events[:2], 999999], "action": "person"}, headers=NATURALIST
    )
    assert r.status_code == 200 and r.json()["done"] == events[:2] and r.json()["unknown"] == [999999]
    assert ids(review, VIEWER) == [events[2]]
    review.post("/api/v1/bulk/events", json={"ids": events[:1], "action": "no_person"}, headers=NATURALIST)
    assert sorted(ids(review, VIEWER)) == sorted([events[0], events[2]])
    # A viewer may not flag.
    assert (
        review.post(
            "/api/v1/bulk/events", json={"ids": events, "action": "no_person"}, headers=VIEWER
        ).status_code
        == 403
    )
    assert (
        review.patch(f"/api/v1/events/{events[1]}", json={"person": False}, headers=VIEWER).status_code == 403
    )


@pytest.mark.parametrize(
    "body",
    [
        {"person": "oui"},
        {"person": 1},
        {"person": [True]},
        {"person": {"value": True}},
        {"person": True, "extra": "x"},
        {"person": "true" * 20000},
    ],
)
def test_hostile_person_values_are_refused_in_french(
    review: TestClient, db: Conn, body: dict[str, Any]
) -> None:
    make_camera(db)
    eid = make_event(db)
    other = make_event(db, start=T0 + timedelta(minutes=1))
    r = review.patch(f"/api/v1/events/{eid}", json=body, headers=NATURALIST)
    assert r.status_code in (413, 422), r.text
    assert "refusée" in r.json()["detail"] or "volumineux" in r.json()["detail"]
    # Nothing changed, and the service still answers.
    assert sorted(ids(review, VIEWER)) == sorted([eid, other])


@pytest.mark.parametrize("value", ["maybe", "2", "", "true\x00"])
def test_hostile_person_filter_is_refused(review: TestClient, db: Conn, value: str) -> None:
    make_camera(db)
    make_event(db)
    r = review.get("/api/v1/events", params={"person": value}, headers=NATURALIST)
    assert r.status_code == 422 and r.json()["detail"].startswith("requête refusée")


def test_hostile_bulk_actions_are_refused(review: TestClient, db: Conn) -> None:
    make_camera(db)
    eid = make_event(db)
    for body in (
        {"ids": [eid], "action": "PERSON"},
        {"ids": [eid], "action": "person", "person": True},
        {"ids": [2**63], "action": "person"},
        {"ids": [], "action": "person"},
    ):
        r = review.post("/api/v1/bulk/events", json=body, headers=NATURALIST)
        assert r.status_code == 422, (body, r.text)
    assert ids(review, VIEWER) == [eid]


def test_statistics_and_gallery_pages_leave_people_out_for_a_viewer(review: TestClient, db: Conn) -> None:
    make_camera(db)
    walker = make_event(db, start=T0)
    deer = make_event(db, start=T0 + timedelta(minutes=5))
    observe(review, walker, "Homo sapiens")
    observe(review, deer)
    propose(db, walker)
    viewer = VIEWER
    page = review.get("/revue/statistiques", params={"periode": "30j"}, headers=viewer)
    assert page.status_code == 200
    assert "Homo sapiens" not in page.text and "Capreolus capreolus" in page.text
    assert "Homo sapiens" in review.get("/revue/statistiques", headers=NATURALIST).text
    gallery = review.get("/revue", params={"du": "2026-11-28", "au": "2026-11-28"}, headers=viewer)
    assert f"/revue/evenements/{deer}" in gallery.text and f"/revue/evenements/{walker}" not in gallery.text
    assert review.get(f"/revue/evenements/{walker}", headers=viewer).status_code == 404
