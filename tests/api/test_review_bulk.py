"""Bulk actions over a selection: false positive, review and its undo, favourite, tag, and
delete (which keeps favourites and validated events, removes files, and is audit-logged)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import bearer
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
from tests.factories import make_user

__all__ = ["media_dir", "review"]
URL = "/api/v1/bulk/events"


def test_mark_tag_and_favourite_a_selection(review: TestClient, db: Conn) -> None:
    make_camera(db)
    ids = [make_event(db, start=T0 + timedelta(minutes=i)) for i in range(4)]
    r = review.post(
        URL,
        json={"ids": [*ids[:3], 999999, ids[0]], "action": "tag", "scientific_name": "chevreuil européen"},
        headers=NATURALIST,
    )
    # "chevreuil européen" is a French name, not a scientific one: a free name, with a warning.
    assert r.status_code == 200 and r.json()["warnings"]
    r = review.post(
        URL,
        json={
            "ids": [*ids[:3], 999999],
            "action": "tag",
            "scientific_name": "Capreolus capreolus",
            "count": 2,
        },
        headers=NATURALIST,
    )
    body = r.json()
    assert body["done"] == ids[:3] and body["unknown"] == [999999] and body["warnings"] == []
    for eid in ids[:3]:
        obs = review.get(f"/api/v1/events/{eid}/observations", headers=VIEWER).json()
        assert [o["scientific_name"] for o in obs] == ["chevreuil européen", "Capreolus capreolus"]
        assert obs[1]["count"] == 2 and obs[1]["vernacular_name"] == "Chevreuil européen"
    assert review.get(f"/api/v1/events/{ids[3]}/observations", headers=VIEWER).json() == []

    assert (
        review.post(URL, json={"ids": ids, "action": "false_positive"}, headers=NATURALIST).json()["done"]
        == ids
    )
    statuses = {e["id"]: e["status"] for e in review.get("/api/v1/events", headers=VIEWER).json()["items"]}
    assert set(statuses.values()) == {"false_positive"}
    review.post(URL, json={"ids": ids, "action": "not_false_positive"}, headers=NATURALIST)
    review.post(URL, json={"ids": ids[:2], "action": "not_reviewed"}, headers=NATURALIST)
    statuses = {e["id"]: e["status"] for e in review.get("/api/v1/events", headers=VIEWER).json()["items"]}
    assert [statuses[i] for i in ids] == ["new", "new", "reviewed", "reviewed"]
    review.post(URL, json={"ids": ids[1:3], "action": "favourite"}, headers=ADMIN)
    favs = review.get("/api/v1/events", params={"favourite": "true"}, headers=VIEWER).json()["items"]
    assert sorted(e["id"] for e in favs) == sorted(ids[1:3])
    review.post(URL, json={"ids": [ids[1]], "action": "unfavourite"}, headers=ADMIN)
    favs = review.get("/api/v1/events", params={"favourite": "true"}, headers=VIEWER).json()["items"]
    assert [e["id"] for e in favs] == [ids[2]]


def test_delete_keeps_favourites_and_validated_events_and_is_audited(
    review: TestClient, db: Conn, media_dir: Path, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_user(conn, "camille", ["naturalist"], token="vigie_test-second-naturalist-0123456789")
    make_camera(db)
    plain, plain_clip = event_with_clip(db, media_dir, start=T0)
    fav, fav_clip = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=1), favourite=True)
    valid, valid_clip = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=2))
    proposed = make_event(db, start=T0 + timedelta(minutes=3))
    obs = review.post(
        f"/api/v1/events/{valid}/observations", json={"scientific_name": "Meles meles"}, headers=NATURALIST
    ).json()
    second = bearer("vigie_test-second-naturalist-0123456789")
    review.post(f"/api/v1/observations/{obs['id']}/validation", json={"decision": "confirm"}, headers=second)
    review.post(
        f"/api/v1/events/{proposed}/observations", json={"scientific_name": "Meles meles"}, headers=NATURALIST
    )
    assert review.get(f"/api/v1/events/{plain}/poster", headers=VIEWER).status_code == 200  # a cached poster
    poster = plain_clip.with_name(plain_clip.stem + ".poster.jpg")
    assert poster.exists()

    assert review.post(URL, json={"ids": [plain], "action": "delete"}, headers=VIEWER).status_code == 403
    r = review.post(
        URL, json={"ids": [plain, fav, valid, proposed, 424242], "action": "delete"}, headers=NATURALIST
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body["done"]) == sorted([plain, proposed]) and body["unknown"] == [424242]
    assert {k["id"]: k["reason"] for k in body["kept"]} == {fav: "favori", valid: "observation validée"}
    assert not plain_clip.exists() and not poster.exists()
    assert fav_clip.exists() and valid_clip.exists()
    left = [e["id"] for e in review.get("/api/v1/events", headers=VIEWER).json()["items"]]
    assert sorted(left) == sorted([fav, valid])
    audit = review.get("/api/v1/audit", params={"action": "events"}, headers=ADMIN).json()
    assert len(audit) == 1 and audit[0]["actor"] == "naturalist"
    assert sorted(audit[0]["detail"]["deleted"]) == sorted([plain, proposed])
    assert sorted(audit[0]["detail"]["kept"]) == sorted([fav, valid])


def test_a_tampered_path_is_not_deleted_outside_the_media_dir(
    review: TestClient, db: Conn, tmp_path: Path
) -> None:
    make_camera(db)
    outside = tmp_path / "keep.mp4"
    outside.write_bytes(b"x")
    eid = make_event(db, clip="../keep.mp4", snapshot=str(outside))
    assert review.post(URL, json={"ids": [eid], "action": "delete"}, headers=NATURALIST).json()["done"] == [
        eid
    ]
    assert outside.exists()


def test_bad_bulk_requests(review: TestClient, db: Conn) -> None:
    make_camera(db)
    eid = make_event(db)
    for body in (
        {"ids": [], "action": "favourite"},
        {"ids": list(range(1, 502)), "action": "favourite"},
        {"ids": [eid], "action": "explode"},
        {"ids": [eid], "action": "tag"},
        {"ids": ["1; DROP"], "action": "favourite"},
        {"ids": [0], "action": "favourite"},
        {"ids": [2**63], "action": "favourite"},
        {"ids": [eid], "action": "tag", "scientific_name": "Meles meles", "count": 0},
        {"ids": [eid], "action": "favourite", "extra": True},
    ):
        r = review.post(URL, json=body, headers=NATURALIST)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"].startswith("action refusée"), r.json()
    assert review.get(f"/api/v1/events/{eid}", headers=VIEWER).json()["favourite"] is False


def test_a_browser_session_needs_its_csrf_token_for_bulk_and_review(review: TestClient, db: Conn) -> None:
    """The review pages will call these routes with the session cookie: without the session's
    CSRF token nothing changes."""
    from tests.api.test_accounts import PASSWORD, csrf_of, sign_in

    make_user(db, "claire", ["naturalist"], password=PASSWORD)
    make_camera(db)
    eid = make_event(db)
    sign_in(review, "claire", PASSWORD)
    assert review.get("/api/v1/events").status_code == 200  # reading needs no token
    assert review.post(URL, json={"ids": [eid], "action": "delete"}).status_code == 403
    assert review.patch(f"/api/v1/events/{eid}", json={"favourite": True}).status_code == 403
    assert review.get(f"/api/v1/events/{eid}").json()["favourite"] is False
    token = {"X-CSRF-Token": csrf_of(review)}
    r = review.patch(f"/api/v1/events/{eid}", json={"favourite": True, "reviewed": True}, headers=token)
    assert r.status_code == 200 and r.json()["favourite"] is True
    assert [x["login"] for x in r.json()["reviews"]] == ["claire"]
