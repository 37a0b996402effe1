"""The review's events list: every filter, sorts, opaque cursor pagination, detail, the
caller's review state; and hostile input on each parameter."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.api.review_support import (
    ADMIN,
    NATURALIST,
    T0,
    VIEWER,
    Conn,
    make_camera,
    make_event,
    media_dir,
    review,
)

__all__ = ["media_dir", "review"]


def _ids(client: TestClient, headers: dict[str, str] = NATURALIST, /, **params: Any) -> list[int]:
    r = client.get("/api/v1/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["items"]]


def _seed(db: Conn) -> dict[str, int]:
    make_camera(db, "etang-nord")
    make_camera(db, "foret-sud")
    return {
        "day_sure": make_event(db, "etang-nord", start=T0, duration_s=30),
        "night": make_event(db, "etang-nord", start=T0.replace(hour=2), duration_s=8),
        "doubt": make_event(
            db,
            "foret-sud",
            start=T0 + timedelta(hours=1),
            confidence=0.25,
            doubt_guard="ir_switch",
            duration_s=12,
        ),
        "fav": make_event(db, "foret-sud", start=T0 + timedelta(days=1), favourite=True, duration_s=60),
    }


def test_filters_each_select_what_they_say(review: TestClient, db: Conn) -> None:
    ev = _seed(db)
    assert sorted(_ids(review)) == sorted(ev.values())
    assert sorted(_ids(review, camera="foret-sud")) == sorted([ev["doubt"], ev["fav"]])
    assert sorted(_ids(review, camera=["foret-sud", "etang-nord"])) == sorted(ev.values())
    assert _ids(review, period="night") == [ev["night"]]
    assert ev["night"] not in _ids(review, period="day")
    assert _ids(review, doubtful="true") == [ev["doubt"]]
    assert _ids(review, doubt_guard="ir_switch") == [ev["doubt"]]
    assert _ids(review, max_confidence=0.5) == [ev["doubt"]]
    assert ev["doubt"] not in _ids(review, min_confidence=0.5)
    assert _ids(review, favourite="true") == [ev["fav"]]
    assert sorted(_ids(review, min_duration_s=25)) == sorted([ev["day_sure"], ev["fav"]])
    frm, to = (T0 - timedelta(minutes=1)).isoformat(), (T0 + timedelta(hours=2)).isoformat()
    assert sorted(_ids(review, **{"from": frm, "to": to})) == sorted([ev["day_sure"], ev["doubt"]])
    assert sorted(_ids(review, status="new")) == sorted(ev.values())
    assert _ids(review, status="false_positive") == []
    assert _ids(review, has_observations="true") == []


def test_sorts_and_the_cursor_walk_every_event_once_in_order(review: TestClient, db: Conn) -> None:
    make_camera(db)
    ids = [make_event(db, start=T0 + timedelta(minutes=i), confidence=(i % 4) / 4) for i in range(23)]
    for sort, order in (
        ("start", "desc"),
        ("confidence", "asc"),
        ("duration", "desc"),
        ("peak_score", "asc"),
    ):
        seen: list[dict[str, Any]] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"sort": sort, "order": order, "limit": 5}
            if cursor:
                params["cursor"] = cursor
            body = review.get("/api/v1/events", params=params, headers=NATURALIST).json()
            seen += body["items"]
            cursor = body["next_cursor"]
            pages += 1
            if cursor is None:
                break
        assert pages == 5, (sort, pages)
        assert sorted(e["id"] for e in seen) == sorted(ids), sort
        field = {
            "start": "start_ts",
            "confidence": "confidence",
            "duration": "duration_s",
            "peak_score": "peak_score",
        }
        keys = [(e[field[sort]], e["id"]) for e in seen]
        assert keys == sorted(keys, reverse=order == "desc"), sort
    first = review.get(
        "/api/v1/events", params={"sort": "confidence", "order": "asc"}, headers=NATURALIST
    ).json()
    assert first["items"][0]["confidence"] == 0.0


def test_a_new_event_does_not_shift_the_next_page(review: TestClient, db: Conn) -> None:
    make_camera(db)
    for i in range(6):
        make_event(db, start=T0 + timedelta(minutes=i))
    page1 = review.get("/api/v1/events", params={"limit": 3}, headers=NATURALIST).json()
    make_event(db, start=T0 + timedelta(hours=5))  # newest: would push offsets by one
    page2 = review.get(
        "/api/v1/events", params={"limit": 3, "cursor": page1["next_cursor"]}, headers=NATURALIST
    ).json()
    assert {e["id"] for e in page1["items"]}.isdisjoint({e["id"] for e in page2["items"]})
    assert len(page2["items"]) == 3 and page2["next_cursor"] is None


def test_with_total_counts_the_filtered_events(review: TestClient, db: Conn) -> None:
    _seed(db)
    body = review.get(
        "/api/v1/events", params={"camera": "foret-sud", "with_total": "true", "limit": 1}, headers=VIEWER
    ).json()
    assert body["total"] == 2 and len(body["items"]) == 1
    assert review.get("/api/v1/events", headers=VIEWER).json()["total"] is None
    # A first page holding every match is its own count; a later page still counts them all.
    whole = review.get("/api/v1/events", params={"camera": "foret-sud", "with_total": "true"}, headers=VIEWER)
    assert whole.json()["total"] == 2 == len(whole.json()["items"])
    later = {"camera": "foret-sud", "with_total": "true", "limit": 1, "cursor": body["next_cursor"]}
    last = review.get("/api/v1/events", params=later, headers=VIEWER).json()
    assert len(last["items"]) == 1 and last["next_cursor"] is None and last["total"] == 2


def test_hostile_cursors_and_parameters_are_refused_in_french(review: TestClient, db: Conn) -> None:
    _seed(db)
    good = review.get("/api/v1/events", params={"limit": 1}, headers=NATURALIST).json()["next_cursor"]

    def raw(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    hostile = [
        "not-base64!!",
        raw([1, 2]),
        raw({"v": 1, "s": "start", "o": "desc", "k": "'; DROP TABLE camera_events; --", "i": 1}),
        raw({"v": 1, "s": "start", "o": "desc", "k": "2026-11-28T12:00:00", "i": 1}),  # no offset
        raw({"v": 1, "s": "start", "o": "desc", "k": "2026-11-28T12:00:00Z", "i": 2**70}),
        raw({"v": 1, "s": "confidence", "o": "desc", "k": "x", "i": 1}),
        "A" * 5000,
    ]
    for cursor in hostile:
        sort = "confidence" if "Y29uZmlkZW5j" in cursor else "start"
        r = review.get("/api/v1/events", params={"cursor": cursor, "sort": sort}, headers=NATURALIST)
        assert r.status_code == 422, (cursor[:40], r.text)
        assert "curseur" in r.json()["detail"] or "cursor" in r.json()["detail"]
    r = review.get("/api/v1/events", params={"cursor": good, "sort": "duration"}, headers=NATURALIST)
    assert r.status_code == 422 and "autre tri" in r.json()["detail"]
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"min_confidence": 2},
        {"min_duration_s": -1},
        {"from": "1700000000"},
        {"from": "2026-11-28T12:00:00"},
        {"from": "2026-11-29T00:00:00Z", "to": "2026-11-28T00:00:00Z"},
        {"camera": "../../etc"},
        {"camera": "<script>"},
        {"status": "deleted"},
        {"period": "dusk"},
        {"sort": "id; DROP TABLE users"},
        {"deployment": "abc"},
        {"deployment": 999999},
        {"doubt_guard": "Light Change"},
        {"species": "Vulpes\x00vulpes"},  # a NUL was a 500 (PostgreSQL refuses it in text)
        {"species": "Vulpes\nvulpes"},
    ):
        r = review.get("/api/v1/events", params=params, headers=NATURALIST)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"].startswith("requête refusée"), r.json()


def test_detail_has_boxes_and_unknown_ids_are_404(review: TestClient, db: Conn) -> None:
    ev = _seed(db)
    body = review.get(f"/api/v1/events/{ev['day_sure']}", headers=VIEWER).json()
    assert body["boxes"][0]["w"] == 0.3 and body["observations"] == [] and body["reviews"] == []
    assert body["period"] == "day" and body["deployment_id"] is None
    assert body["media"]["clip"] is None  # the seeded event has no file
    for bad in ("999999", "0", "-1", "abc", "1e3", str(2**63), "%2e%2e"):
        r = review.get(f"/api/v1/events/{bad}", headers=VIEWER)
        assert r.status_code in (404, 422), (bad, r.status_code)
        assert "detail" in r.json()
    assert (
        review.get("/api/v1/events/999999", headers=VIEWER).json()["detail"] == "événement inconnu : 999999"
    )


def test_review_state_is_per_user_and_can_be_undone(review: TestClient, db: Conn) -> None:
    ev = _seed(db)
    eid = ev["day_sure"]
    r = review.patch(f"/api/v1/events/{eid}", json={"reviewed": True}, headers=NATURALIST)
    assert r.status_code == 200 and r.json()["status"] == "reviewed" and r.json()["reviewed_by_me"] is True
    assert [x["login"] for x in r.json()["reviews"]] == ["naturalist"]
    # Reviewed by the naturalist, not by the admin.
    assert _ids(review, NATURALIST, reviewed_by_me="false").count(eid) == 0
    assert eid in _ids(review, ADMIN, reviewed_by_me="false")
    assert review.patch(f"/api/v1/events/{eid}", json={"reviewed": True}, headers=ADMIN).status_code == 200
    # The naturalist's undo leaves the admin's review: still reviewed.
    r = review.patch(f"/api/v1/events/{eid}", json={"reviewed": False}, headers=NATURALIST)
    assert r.json()["status"] == "reviewed" and r.json()["reviewed_by_me"] is False
    r = review.patch(f"/api/v1/events/{eid}", json={"reviewed": False}, headers=ADMIN)
    assert r.json()["status"] == "new"
    r = review.patch(
        f"/api/v1/events/{eid}", json={"false_positive": True, "favourite": True}, headers=NATURALIST
    )
    assert r.json()["status"] == "false_positive" and r.json()["favourite"] is True
    assert _ids(review, status="false_positive") == [eid]
    r = review.patch(f"/api/v1/events/{eid}", json={"false_positive": False}, headers=NATURALIST)
    assert r.json()["status"] == "reviewed"  # the naturalist had seen it


def test_a_viewer_reads_but_never_changes(review: TestClient, db: Conn) -> None:
    ev = _seed(db)
    assert review.get("/api/v1/events", headers=VIEWER).status_code == 200
    r = review.patch(f"/api/v1/events/{ev['fav']}", json={"favourite": False}, headers=VIEWER)
    assert r.status_code == 403
    assert review.get(f"/api/v1/events/{ev['fav']}", headers=VIEWER).json()["favourite"] is True


def test_bad_patch_bodies(review: TestClient, db: Conn) -> None:
    ev = _seed(db)
    url = f"/api/v1/events/{ev['day_sure']}"
    for body in ({"reviewed": "oui"}, {"status": "new"}, [1, 2], {"favourite": None, "x": 1}):
        r = review.patch(url, json=body, headers=NATURALIST)
        assert r.status_code == 422, (body, r.text)
        assert "refusée :" in r.json()["detail"]
    r = review.patch(url, content=b"{not json", headers=NATURALIST | {"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    r = review.patch(url, content=b"x" * 70000, headers=NATURALIST | {"Content-Type": "application/json"})
    assert r.status_code == 413
    assert (
        review.patch("/api/v1/events/999999", json={"reviewed": True}, headers=NATURALIST).status_code == 404
    )
