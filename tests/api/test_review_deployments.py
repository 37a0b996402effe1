"""Deployments: CRUD by naturalists and admins, no overlap per camera, events resolved to the
deployment active when they were recorded, and the sun's day/night at its coordinates."""

from __future__ import annotations

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


def _deployment(**over: Any) -> dict[str, Any]:
    return {
        "camera_id": "etang-nord",
        "location_name": "Étang du Plessis, rive nord",
        "lat": 49.486,
        "lon": 2.861,
        "coordinate_uncertainty_m": 10,
        "habitat": "roselière",
        "feature_type": "waterSource",
        "camera_height_m": 0.8,
        "camera_tilt_deg": -10,
        "camera_heading_deg": 200,
        "setup_by": "Claire Durand",
        "comments": "<script>alert(1)</script>",
        "start_ts": (T0 - timedelta(days=10)).isoformat(),
        "end_ts": T0.isoformat(),
    } | over


def test_crud_and_each_event_s_deployment(review: TestClient, db: Conn) -> None:
    make_camera(db)
    r = review.post("/api/v1/deployments", json=_deployment(), headers=NATURALIST)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["created_by"] == "naturalist" and first["comments"] == "<script>alert(1)</script>"
    second = review.post(
        "/api/v1/deployments", json=_deployment(start_ts=T0.isoformat(), end_ts=None, lat=49.5), headers=ADMIN
    ).json()
    before = make_event(db, start=T0 - timedelta(days=1))
    at_switch = make_event(db, start=T0)  # [start, end): the second deployment's first instant
    outside = make_event(db, start=T0 - timedelta(days=30))
    details = {
        e: review.get(f"/api/v1/events/{e}", headers=VIEWER).json() for e in (before, at_switch, outside)
    }
    assert details[before]["deployment_id"] == first["id"]
    assert details[at_switch]["deployment_id"] == second["id"]
    assert details[outside]["deployment_id"] is None
    listed = review.get("/api/v1/events", params={"deployment": first["id"]}, headers=VIEWER).json()
    assert [e["id"] for e in listed["items"]] == [before]

    assert review.get(f"/api/v1/deployments/{first['id']}", headers=VIEWER).json()["habitat"] == "roselière"
    page = review.get("/api/v1/deployments", params={"camera": "etang-nord"}, headers=VIEWER).json()
    assert page["total"] == 2 and [d["id"] for d in page["items"]] == [second["id"], first["id"]]
    active = review.get(
        "/api/v1/deployments", params={"active_at": (T0 + timedelta(days=3)).isoformat()}, headers=VIEWER
    )
    assert [d["id"] for d in active.json()["items"]] == [second["id"]]

    r = review.patch(
        f"/api/v1/deployments/{second['id']}",
        json={"end_ts": (T0 + timedelta(days=5)).isoformat(), "habitat": None},
        headers=NATURALIST,
    )
    assert r.status_code == 200, r.text
    assert r.json()["habitat"] is None and r.json()["end_ts"].startswith("2026-12-03")
    assert review.delete(f"/api/v1/deployments/{first['id']}", headers=VIEWER).status_code == 403
    assert review.delete(f"/api/v1/deployments/{first['id']}", headers=NATURALIST).status_code == 204
    assert review.get(f"/api/v1/events/{before}", headers=VIEWER).json()["deployment_id"] is None
    assert review.delete(f"/api/v1/deployments/{first['id']}", headers=NATURALIST).status_code == 404
    audit = review.get("/api/v1/audit", params={"action": "deleted"}, headers=ADMIN).json()
    assert any(e["target"] == f"/api/v1/deployments/{first['id']}" for e in audit)


def test_overlaps_and_bad_deployments_are_refused(review: TestClient, db: Conn) -> None:
    make_camera(db)
    assert review.post("/api/v1/deployments", json=_deployment(), headers=NATURALIST).status_code == 201
    r = review.post(
        "/api/v1/deployments",
        json=_deployment(start_ts=(T0 - timedelta(days=2)).isoformat(), end_ts=None),
        headers=NATURALIST,
    )
    assert r.status_code == 409 and "chevauche" in r.json()["detail"]
    for over in (
        {"lat": 91},
        {"lon": "est"},
        {"camera_tilt_deg": 120},
        {"camera_heading_deg": -1},
        {"camera_height_m": -0.5},
        {"coordinate_uncertainty_m": 0},
        {"feature_type": "autoroute"},
        {"start_ts": "2026-11-01T00:00:00"},  # no offset
        {"end_ts": "2024-12-01T00:00:00Z"},  # before the start
        {"camera_id": "../x"},
        {"camera_id": "inconnue"},
        {"habitat": "x" * 501},
        {"comments": "nul\x00"},
        {"unknown_field": 1},
    ):
        r = review.post(
            "/api/v1/deployments",
            json=_deployment(start_ts="2025-01-01T00:00:00Z", end_ts=None) | over,
            headers=NATURALIST,
        )
        assert r.status_code == 422, (over, r.text)
        assert r.json()["detail"].startswith("déploiement refusé"), r.json()
        assert "<" not in r.json()["detail"]
    big = review.post(
        "/api/v1/deployments",
        content=b'{"comments": "' + b"x" * 70000 + b'"}',
        headers=NATURALIST | {"Content-Type": "application/json"},
    )
    assert big.status_code == 413


def test_day_and_night_follow_the_sun_at_the_deployment(review: TestClient, db: Conn) -> None:
    make_camera(db)
    review.post(
        "/api/v1/deployments",
        json=_deployment(end_ts=None, start_ts="2026-01-01T00:00:00Z"),
        headers=NATURALIST,
    )
    # 1 December at 49.5° N: sunrise about 07:30 UTC, sunset about 15:55 UTC.
    cases = {
        "07:00": "night",
        "08:00": "day",
        "12:00": "day",
        "15:40": "day",
        "16:20": "night",
        "23:00": "night",
    }
    ids = {}
    for hhmm, _ in cases.items():
        h, m = map(int, hhmm.split(":"))
        ids[hhmm] = make_event(db, start=T0.replace(day=1, month=12, hour=h, minute=m))
    for hhmm, period in cases.items():
        assert review.get(f"/api/v1/events/{ids[hhmm]}", headers=VIEWER).json()["period"] == period, hhmm
    nights = review.get("/api/v1/events", params={"period": "night"}, headers=VIEWER).json()["items"]
    assert sorted(e["id"] for e in nights) == sorted(ids[h] for h, p in cases.items() if p == "night")


def test_the_sun_is_the_deployment_s_not_the_server_s(review: TestClient, db: Conn) -> None:
    """The same UTC midday is day at the Deux Vallées and night at a camera lent to Sydney."""
    make_camera(db, "etang-nord")
    make_camera(db, "pret-sydney")
    start = "2026-01-01T00:00:00Z"
    review.post("/api/v1/deployments", json=_deployment(end_ts=None, start_ts=start), headers=NATURALIST)
    far = _deployment(camera_id="pret-sydney", lat=-33.87, lon=151.21, end_ts=None, start_ts=start)
    assert review.post("/api/v1/deployments", json=far, headers=NATURALIST).status_code == 201
    here = make_event(db, "etang-nord", start=T0)
    there = make_event(db, "pret-sydney", start=T0)
    assert review.get(f"/api/v1/events/{here}", headers=VIEWER).json()["period"] == "day"
    assert review.get(f"/api/v1/events/{there}", headers=VIEWER).json()["period"] == "night"
