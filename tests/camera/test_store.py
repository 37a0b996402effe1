"""Camera SQL: cameras with deployment fields, events, health; secrets stay out of repr."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from camera import store
from camera.errors import CameraInputError
from camera.store import EventFiles, Health
from tests.camera.factories import camera
from vigie.errors import NotFoundError

Conn = psycopg.Connection[tuple[object, ...]]
T0 = 1_795_852_800.0


def test_camera_round_trip_with_deployment_and_secret_url(db: Conn) -> None:
    cam = camera(
        url="rtsp://admin:s3cret@10.0.0.5/stream1",
        source_kind="rtsp",
        deployment_start=datetime(2026, 4, 1, tzinfo=UTC),
        motion_config={"detector": "mog2"},
        event_config={"pre_roll_s": 3},
        retention_days=60,
    )
    store.upsert_camera(db, cam)
    back = store.get_camera(db, "etang-nord")
    assert back == cam
    assert "s3cret" not in repr(back)
    assert back.safe_url == "rtsp://admin:***@10.0.0.5/stream1"
    store.upsert_camera(db, camera(name="Autre nom"))
    assert store.get_camera(db, "etang-nord").name == "Autre nom"
    assert [c.id for c in store.list_cameras(db)] == ["etang-nord"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Bad Id"}, "identifiant"),
        ({"id": "vigie-x"}, "identifiant"),
        ({"source_kind": "ftp"}, "type de source"),
        ({"source_url": ""}, "URL"),
        ({"source_url": "http://x/" + "a" * 3000}, "URL"),
        ({"lat": 91.0}, "latitude"),
        ({"lon": -200.0}, "longitude"),
        ({"retention_days": 0}, "conservation"),
        (
            {
                "deployment_start": datetime(2026, 5, 1, tzinfo=UTC),
                "deployment_end": datetime(2026, 4, 1, tzinfo=UTC),
            },
            "déploiement",
        ),
    ],
)
def test_invalid_camera_is_refused_with_a_reason(db: Conn, changes: dict[str, Any], message: str) -> None:
    cam = camera(**{k: v for k, v in changes.items() if k not in ("id", "source_url")})
    if "id" in changes:
        cam = camera(str(changes["id"]))
    if "source_url" in changes:
        cam = camera(url=str(changes["source_url"]))
    with pytest.raises(CameraInputError, match=message):
        store.upsert_camera(db, cam)
    assert store.list_cameras(db) == []


def test_event_lifecycle_parts_and_review(db: Conn) -> None:
    store.upsert_camera(db, camera())
    first = store.insert_event(db, "etang-nord", "k1", T0)
    second = store.insert_event(db, "etang-nord", "k2", T0 + 120, part=2, previous_event_id=first)
    store.finish_event(
        db,
        first,
        end_ts=T0 + 120,
        peak_score=0.4,
        peak_ts=T0 + 10,
        boxes=[{"t": 5.0, "x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}],
        files=EventFiles("etang-nord/2026/11/28/k1.mp4", "a.jpg", "a.thumb.jpg", 1234),
        clip_start_ts=T0,
    )
    rows = store.list_events(db, "etang-nord")
    assert [r["id"] for r in rows] == [first, second]
    assert rows[0]["end_ts"] == datetime.fromtimestamp(T0 + 120, UTC)
    assert rows[0]["boxes"][0]["w"] == 0.3
    assert rows[0]["status"] == "new" and rows[1]["previous_event_id"] == first
    assert rows[1]["part"] == 2 and rows[1]["end_ts"] is None
    store.set_event_status(db, first, status="false_positive", favourite=True)
    row = store.list_events(db)[0]
    assert (row["status"], row["favourite"]) == ("false_positive", True)
    with pytest.raises(CameraInputError, match="statut"):
        store.set_event_status(db, first, status="deleted")
    with pytest.raises(NotFoundError):
        store.set_event_status(db, 999_999, status="reviewed")


def test_end_before_start_is_clamped_not_refused(db: Conn) -> None:
    store.upsert_camera(db, camera())
    eid = store.insert_event(db, "etang-nord", "k", T0)
    store.finish_event(db, eid, end_ts=T0 - 5, peak_score=-1, peak_ts=None, boxes=[], files=EventFiles())
    row = store.list_events(db)[0]
    assert row["end_ts"] == row["start_ts"] and row["peak_score"] == 0


def test_health_upsert_redacts_errors(db: Conn) -> None:
    store.upsert_camera(db, camera())
    store.upsert_health(db, "etang-nord", Health(state="online", last_frame_ts=T0, frames_in=10))
    store.upsert_health(
        db,
        "etang-nord",
        Health(state="lost", frames_in=12, reconnects=3, last_error="http://u:pw@cam/ ne répond pas"),
    )
    row = store.get_health(db, "etang-nord")
    assert row is not None
    assert row["state"] == "lost" and row["reconnects"] == 3 and row["frames_in"] == 12
    # A lost camera keeps its last frame time.
    assert row["last_frame_at"] == datetime.fromtimestamp(T0, UTC)
    assert "pw" not in row["last_error"]
    assert store.get_health(db, "inconnue") is None


def test_unknown_camera_is_not_found(db: Conn) -> None:
    with pytest.raises(NotFoundError, match="inconnue"):
        store.get_camera(db, "nulle-part")


def test_guess_kind() -> None:
    assert store.guess_kind("rtsp://cam/1") == "rtsp"
    assert store.guess_kind("http://cam/video.mjpg") == "mjpeg"
    assert store.guess_kind("http://cam/snapshot.jpg?user=a") == "snapshot"
    assert store.guess_kind("/data/video.mp4") == "file"
