"""Observations: several per event, a free name with a warning, every edit in the history,
and validation by a second naturalist (never the author); bad input on each field."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import bearer
from tests.api.review_support import (
    ADMIN,
    NATURALIST,
    VIEWER,
    Conn,
    make_camera,
    make_event,
    media_dir,
    review,
)
from tests.factories import make_user

__all__ = ["media_dir", "review"]
SECOND = bearer("vigie_test-second-naturalist-0123456789")


def _second(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_user(conn, "camille", ["naturalist"], token="vigie_test-second-naturalist-0123456789")


def _add(
    client: TestClient, event_id: int, body: dict[str, Any], headers: dict[str, str] = NATURALIST
) -> Any:
    r = client.post(f"/api/v1/events/{event_id}/observations", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_several_observations_known_and_free_names(review: TestClient, db: Conn) -> None:
    make_camera(db)
    eid = make_event(db, duration_s=20)
    roe = _add(
        review,
        eid,
        {
            "scientific_name": "capreolus  CAPREOLUS",
            "count": 2,
            "life_stage": "adult",
            "sex": "female",
            "behavior": "broute",
            "individual_id": "chevrette-1",
            "bbox": {"x": 0.4, "y": 0.5, "w": 0.2, "h": 0.3},
            "event_start_s": 2.5,
            "event_end_s": 12,
        },
    )
    assert roe["scientific_name"] == "Capreolus capreolus" and roe["vernacular_name"] == "Chevreuil européen"
    assert roe["in_species_list"] is True and roe["warnings"] == [] and roe["status"] == "proposed"
    assert roe["classified_by"] == "naturalist" and roe["classification_method"] == "human"
    assert roe["bbox"] == {"x": 0.4, "y": 0.5, "w": 0.2, "h": 0.3}
    assert roe["event_start"].startswith("2026-11-28T12:00:02.5")
    free = _add(
        review, eid, {"scientific_name": "Genetta genetta <b>", "comments": "<script>alert(1)</script>"}
    )
    assert free["in_species_list"] is False and free["warnings"] and "liste" in free["warnings"][0]
    assert free["comments"] == "<script>alert(1)</script>"  # stored as given; pages escape it
    blank = _add(review, eid, {"observation_type": "blank"})
    assert blank["scientific_name"] is None
    listed = review.get(f"/api/v1/events/{eid}/observations", headers=VIEWER).json()
    assert [o["id"] for o in listed] == [roe["id"], free["id"], blank["id"]]
    event = review.get(f"/api/v1/events/{eid}", headers=VIEWER).json()
    assert event["has_observations"] is True and event["species"] == [
        "Capreolus capreolus",
        "Genetta genetta <b>",
    ]
    by_species = review.get(
        "/api/v1/events", params={"species": "Capreolus capreolus"}, headers=VIEWER
    ).json()
    assert [e["id"] for e in by_species["items"]] == [eid]
    assert (
        review.get("/api/v1/events", params={"has_observations": "false"}, headers=VIEWER).json()["items"]
        == []
    )
    for o in (roe, free, blank):
        assert review.delete(f"/api/v1/observations/{o['id']}", headers=NATURALIST).status_code == 204
    assert review.get(f"/api/v1/events/{eid}", headers=VIEWER).json()["has_observations"] is False
    history = review.get(f"/api/v1/observations/{roe['id']}/history", headers=VIEWER).json()
    assert [h["action"] for h in history] == ["created", "deleted"]
    assert history[-1]["snapshot"]["scientific_name"] == "Capreolus capreolus"


def test_every_edit_is_kept_and_an_edit_needs_a_new_validation(
    review: TestClient, db: Conn, database_url: str
) -> None:
    _second(database_url)
    make_camera(db)
    eid = make_event(db)
    obs = _add(review, eid, {"scientific_name": "Vulpes vulpes", "count": 1})
    r = review.post(
        f"/api/v1/observations/{obs['id']}/validation", json={"decision": "confirm"}, headers=SECOND
    )
    assert r.status_code == 200 and r.json()["observation"]["status"] == "validated"
    assert r.json()["observation"]["validated_by"] == "camille"
    r = review.patch(f"/api/v1/observations/{obs['id']}", json={"count": 2, "sex": "male"}, headers=SECOND)
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["count"] == 2 and changed["scientific_name"] == "Vulpes vulpes"
    assert changed["status"] == "proposed" and changed["validated_by"] is None
    assert changed["classified_by"] == "camille" and changed["version"] == 3
    r = review.patch(f"/api/v1/observations/{obs['id']}", json={"sex": None}, headers=NATURALIST)
    assert r.json()["sex"] is None
    history = review.get(f"/api/v1/observations/{obs['id']}/history", headers=VIEWER).json()
    assert [(h["action"], h["actor"], h["version"]) for h in history] == [
        ("created", "naturalist", 1),
        ("validated", "camille", 2),
        ("updated", "camille", 3),
        ("updated", "naturalist", 4),
    ]
    assert history[2]["snapshot"]["count"] == 2 and history[0]["snapshot"]["count"] == 1


def test_validation_by_a_second_naturalist_only(review: TestClient, db: Conn, database_url: str) -> None:
    _second(database_url)
    make_camera(db)
    eid = make_event(db)
    obs = _add(review, eid, {"scientific_name": "Capreolus capreolus"})
    url = f"/api/v1/observations/{obs['id']}/validation"
    r = review.post(url, json={"decision": "confirm"}, headers=NATURALIST)
    assert r.status_code == 409 and "auteur" in r.json()["detail"]
    assert review.post(url, json={"decision": "confirm"}, headers=VIEWER).status_code == 403
    r = review.post(
        url,
        json={
            "decision": "correct",
            "comment": "c'est un daim",
            "correction": {"scientific_name": "Dama dama", "count": 1},
        },
        headers=SECOND,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["observation"]["status"] == "rejected"
        and body["observation"]["validation_comment"] == "c'est un daim"
    )
    fixed = body["correction"]
    assert fixed["scientific_name"] == "Dama dama" and fixed["status"] == "validated"
    assert fixed["corrects_id"] == obs["id"] and fixed["classified_by"] == "camille"
    # Judged once: a second verdict is a conflict.
    assert review.post(url, json={"decision": "reject"}, headers=ADMIN).status_code == 409
    event = review.get(f"/api/v1/events/{eid}", headers=VIEWER).json()
    assert event["species"] == ["Dama dama"]  # rejected observations do not count
    other = _add(review, eid, {"scientific_name": "Sus scrofa"})
    r = review.post(
        f"/api/v1/observations/{other['id']}/validation", json={"decision": "reject"}, headers=ADMIN
    )
    assert r.json()["observation"]["status"] == "rejected" and r.json()["correction"] is None
    for bad in (
        {"decision": "maybe"},
        {"decision": "correct"},
        {"decision": "confirm", "correction": {"scientific_name": "Sus scrofa"}},
        {"decision": "confirm", "comment": "x" * 2001},
    ):
        r = review.post(f"/api/v1/observations/{other['id']}/validation", json=bad, headers=SECOND)
        assert r.status_code == 422, bad


def test_bad_observations_are_refused_in_french(review: TestClient, db: Conn) -> None:
    make_camera(db)
    eid = make_event(db, duration_s=20)
    url = f"/api/v1/events/{eid}/observations"
    base = {"scientific_name": "Meles meles"}
    for over in (
        {"scientific_name": None},  # an animal needs a name
        {"count": 0},
        {"count": 10001},
        {"count": 1.5},
        {"life_stage": "baby"},
        {"sex": "unknown"},
        {"bbox": {"x": 1.2, "y": 0, "w": 0.1, "h": 0.1}},
        {"bbox": {"x": 0.9, "y": 0, "w": 0.2, "h": 0.1}},  # leaves the frame
        {"bbox": {"x": 0.1, "y": 0.1, "w": 0, "h": 0.1}},
        {"bbox": {"x": -0.1, "y": 0.1, "w": 0.1, "h": 0.1}},
        {"bbox": [0.1, 0.1, 0.2, 0.2]},
        {"event_start_s": -1},
        {"event_start_s": 10, "event_end_s": 5},
        {"event_end_s": 500},  # past the 20 s clip
        {"comments": "x" * 5001},
        {"behavior": "a\x00b"},
        {"scientific_name": "x" * 201},
        {"classified_by": "quelqu'un d'autre"},
    ):
        r = review.post(url, json=base | over, headers=NATURALIST)
        assert r.status_code == 422, (over, r.text)
        assert r.json()["detail"].startswith("observation refusée"), (over, r.json())
    big = review.post(
        url,
        content=b'{"comments": "' + b"x" * 70000 + b'"}',
        headers=NATURALIST | {"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert review.post("/api/v1/events/999999/observations", json=base, headers=NATURALIST).status_code == 404
    for bad in ("0", "abc", str(2**63)):
        assert review.get(f"/api/v1/observations/{bad}", headers=VIEWER).status_code in (404, 422)
    assert (
        review.get("/api/v1/observations/999999", headers=VIEWER).json()["detail"]
        == "observation inconnue : 999999"
    )
    assert review.get("/api/v1/events", params={"species": "x" * 201}, headers=VIEWER).status_code == 422


def test_bad_patches_leave_the_observation_as_it_was(review: TestClient, db: Conn) -> None:
    make_camera(db)
    eid = make_event(db, duration_s=20)
    obs = _add(review, eid, {"scientific_name": "Meles meles", "count": 1})
    url = f"/api/v1/observations/{obs['id']}"
    for body in (
        {"count": -3},
        {"bbox": {"x": 0.5, "y": 0.5, "w": 0.6, "h": 0.1}},
        {"scientific_name": None},
        {"id": 7},
        [1],
    ):
        r = review.patch(url, json=body, headers=NATURALIST)
        assert r.status_code == 422, (body, r.text)
    big = review.patch(
        url,
        content=b'{"comments": "' + b"x" * 70000 + b'"}',
        headers=NATURALIST | {"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert review.get(url, headers=VIEWER).json()["version"] == 1
    assert [h["action"] for h in review.get(f"{url}/history", headers=VIEWER).json()] == ["created"]
    assert (
        review.patch("/api/v1/observations/999999", json={"count": 2}, headers=NATURALIST).status_code == 404
    )
    big = review.post(
        "/api/v1/bulk/events",
        content=b'{"ids": [' + b"1," * 40000 + b"1]}",
        headers=NATURALIST | {"Content-Type": "application/json"},
    )
    assert big.status_code == 413
