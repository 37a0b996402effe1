"""/api/v1/cameras on the real database as the API's login: CRUD by admins, URLs checked and
their passwords never shown back, health with the disk used, the current view (ETag, no-cache),
masks; every bad input refused in French while the cameras beside it stay."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from camera.clips import write_view
from tests.api.conftest import LOOPBACK
from tests.api.review_support import ADMIN, NATURALIST, T0, VIEWER, Conn, make_event, media_dir, review
from vigie.camera_urls import masked
from vigie.notify import CAMERA_CONFIG
from vigie.settings import CameraSettings, OutboundSettings, Settings

__all__ = ["media_dir", "review"]

GOOD = {
    "id": "etang-nord",
    "name": "Étang du Plessis, rive nord",
    "source_kind": "rtsp",
    "source_url": "rtsp://vigie:hunter2@93.184.216.34:554/stream1",
}
SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.4], [0.1, 0.4]]


def _create(client: TestClient, **over: Any) -> dict[str, Any]:
    r = client.post("/api/v1/cameras", json={**GOOD, **over}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _stored_url(db: Conn, camera_id: str) -> str:
    row = db.execute("SELECT source_url FROM cameras WHERE id = %s", (camera_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_an_admin_creates_reads_changes_and_deletes_a_camera(review: TestClient, db: Conn) -> None:
    made = _create(review)
    assert made["source_url"] == "rtsp://vigie:***@93.184.216.34:554/stream1"
    assert made["masks"] == [] and made["enabled"] is True and made["retention_days"] == 30
    assert made["links"]["snapshot"] == "/api/v1/cameras/etang-nord/snapshot.jpg"
    assert _stored_url(db, "etang-nord") == GOOD["source_url"]  # kept whole for the worker
    # Read by the review's readers, never with the password.
    for who in (NATURALIST, VIEWER):
        listed = review.get("/api/v1/cameras", headers=who)
        assert listed.status_code == 200
        assert [c["id"] for c in listed.json()["items"]] == ["etang-nord"]
        assert "hunter2" not in listed.text
        assert "hunter2" not in review.get("/api/v1/cameras/etang-nord", headers=who).text
    # Only admins write.
    assert (
        review.patch("/api/v1/cameras/etang-nord", json={"name": "x"}, headers=NATURALIST).status_code == 403
    )
    # A change without a URL keeps the stored one, password included.
    r = review.patch(
        "/api/v1/cameras/etang-nord", json={"name": "Rive nord", "enabled": False}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Rive nord" and r.json()["enabled"] is False
    assert _stored_url(db, "etang-nord") == GOOD["source_url"]
    # A new URL with its kind.
    url = "http://cam.example.org/video.mjpg?user=a&password=s3cret"
    r = review.patch(
        "/api/v1/cameras/etang-nord", json={"source_kind": "mjpeg", "source_url": url}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.json()["source_url"] == "http://cam.example.org/video.mjpg?user=a&password=***"
    assert _stored_url(db, "etang-nord") == url
    # The same id twice: 409.
    again = review.post("/api/v1/cameras", json=GOOD, headers=ADMIN)
    assert again.status_code == 409 and "existe déjà" in again.json()["detail"]
    assert review.delete("/api/v1/cameras/etang-nord", headers=ADMIN).status_code == 204
    gone = review.get("/api/v1/cameras/etang-nord", headers=ADMIN)
    assert gone.status_code == 404 and gone.json()["detail"] == "caméra inconnue : etang-nord"
    audit = db.execute("SELECT action FROM audit_log ORDER BY id").fetchall()
    assert {"camera.created", "camera.changed", "camera.deleted"} <= {a[0] for a in audit}


def test_a_camera_with_events_or_deployments_is_kept(review: TestClient, db: Conn) -> None:
    _create(review)
    make_event(db, "etang-nord")
    r = review.delete("/api/v1/cameras/etang-nord", headers=ADMIN)
    assert r.status_code == 409 and "désactivez-la" in r.json()["detail"]
    assert db.execute("SELECT count(*) FROM camera_events").fetchone() == (1,)


def test_the_api_login_cannot_read_the_stored_url(review: TestClient, service_db_url: Any) -> None:
    _create(review)
    with psycopg.connect(service_db_url("api")) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT source_url FROM cameras")


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:hunter2@cam.example.org/live",
        "rtsp://tok3n@cam.example.org/live",
        "http://cam.example.org/snap.jpg?user=a&password=hunter2&x=1",
        "http://cam.example.org/snap.jpg?token=abc&api_key=def",
        "rtsps://user:p%40ss:word@cam.example.org:322/s",
        "rtsp://cam.example.org/live",
    ],
)
def test_the_database_masks_urls_as_the_logs_do(db: Conn, url: str) -> None:
    """source_url_safe (SQL, migration 410) and vigie.logs.redact() mask the same parts."""
    db.execute(
        "INSERT INTO cameras (id, name, source_url, source_kind) VALUES ('masque-sql', 'x', %s, 'rtsp')",
        (url,),
    )
    row = db.execute("SELECT source_url_safe FROM cameras WHERE id = 'masque-sql'").fetchone()
    assert row == (masked(url),)


HOSTILE = [
    ({"source_kind": "rtsp", "source_url": "file:/etc/shadow"}, "schéma 'file' refusé"),
    ({"source_kind": "file", "source_url": "/etc/shadow"}, "source_kind"),
    ({"source_kind": "rtsp", "source_url": "concat:rtsp://a|file:/etc/passwd"}, "schéma 'concat' refusé"),
    ({"source_kind": "mjpeg", "source_url": "rtsp://cam.example.org/s"}, "schéma 'rtsp' refusé"),
    ({"source_kind": "rtsp", "source_url": "rtsp://[::1]/s"}, "adresse interne"),
    ({"source_kind": "rtsp", "source_url": "rtsp://admin:hunter2@127.0.0.1:8554/s"}, "adresse interne"),
    ({"source_kind": "rtsp", "source_url": "rtsp://localhost/s"}, "adresse interne"),
    ({"source_kind": "mjpeg", "source_url": "http://2130706433/"}, "forme non standard"),
    ({"source_kind": "mjpeg", "source_url": "http://169.254.169.254/latest/meta-data/"}, "métadonnées"),
    ({"source_kind": "mjpeg", "source_url": "http://[fd00:ec2::254]/"}, "métadonnées"),
    ({"source_kind": "mjpeg", "source_url": "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/"}, "non ASCII"),
    ({"source_kind": "rtsp", "source_url": "rtsp://cam.example.org/s\r\nX: 1"}, "caractère de contrôle"),
    ({"source_kind": "rtsp", "source_url": "rtsp://u:hunter2@a@127.0.0.1/"}, "plusieurs '@'"),
    ({"source_kind": "rtsp", "source_url": "rtsp://cam.example.org/" + "a" * 2100}, "dépasse 2000"),
    ({"source_kind": "rtsp", "source_url": "rtsp://vigie:***@93.184.216.34/s"}, "mot de passe masqué"),
    ({"source_kind": "rtsp", "source_url": ""}, "source_url"),
    ({"id": "Pas Bon!"}, "id :"),
    ({"id": "vigie-api"}, "réservés"),
    ({"name": ""}, "name"),
    ({"name": "a\x00b"}, "caractères de contrôle"),
    ({"retention_days": 0}, "retention_days"),
    ({"retention_days": 10**12}, "retention_days"),
    ({"snapshot_interval_s": -1}, "snapshot_interval_s"),
    ({"unknown": 1}, "unknown"),
]


@pytest.mark.parametrize(("over", "why"), HOSTILE)
def test_bad_cameras_are_refused_in_french_and_the_others_stay(
    review: TestClient, db: Conn, caplog: pytest.LogCaptureFixture, over: dict[str, Any], why: str
) -> None:
    caplog.set_level(logging.DEBUG)
    _create(review, id="bonne")
    r = review.post("/api/v1/cameras", json={**GOOD, **over}, headers=ADMIN)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("caméra refusée : ") and why in detail, detail
    assert "hunter2" not in r.text and "hunter2" not in caplog.text
    # Nothing stored; the valid camera beside it kept, and the API still answers.
    ids = [c["id"] for c in review.get("/api/v1/cameras", headers=ADMIN).json()["items"]]
    assert ids == ["bonne"]
    assert _stored_url(db, "bonne") == GOOD["source_url"]


@pytest.mark.parametrize(
    "body",
    ["pas du json", "[1, 2]", "null", json.dumps({**GOOD, "name": "x" * 70_000})],
)
def test_malformed_and_oversized_bodies_are_refused(review: TestClient, body: str) -> None:
    r = review.post("/api/v1/cameras", content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code in (413, 422), r.text
    assert r.json()["detail"]
    assert review.get("/api/v1/cameras", headers=ADMIN).status_code == 200


def test_a_change_of_kind_needs_its_url_and_a_bad_url_changes_nothing(review: TestClient, db: Conn) -> None:
    _create(review)
    r = review.patch("/api/v1/cameras/etang-nord", json={"source_kind": "mjpeg"}, headers=ADMIN)
    assert r.status_code == 422 and "redonner source_url" in r.json()["detail"]
    r = review.patch(
        "/api/v1/cameras/etang-nord",
        json={"source_kind": "rtsp", "source_url": "rtsp://[::1]/s"},
        headers=ADMIN,
    )
    assert r.status_code == 422 and "adresse interne" in r.json()["detail"]
    assert _stored_url(db, "etang-nord") == GOOD["source_url"]
    assert review.patch("/api/v1/cameras/inconnue", json={"name": "x"}, headers=ADMIN).status_code == 404


@pytest.fixture
def demo_like(api_settings: Settings, media_dir: Path) -> Any:
    """The API as the demo runs it: internal addresses allowed (VIGIE_OUTBOUND__ALLOW_PRIVATE)."""
    settings = api_settings.model_copy(
        update={
            "camera": CameraSettings(media_dir=media_dir),
            "outbound": OutboundSettings(allow_private=True),
        }
    )
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        yield c


def test_the_site_setting_lets_a_local_webcam_in_but_not_the_metadata_service(demo_like: TestClient) -> None:
    r = demo_like.post(
        "/api/v1/cameras",
        json={**GOOD, "source_kind": "mjpeg", "source_url": "http://127.0.0.1:8090/stream"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = demo_like.post(
        "/api/v1/cameras",
        json={**GOOD, "id": "meta", "source_kind": "mjpeg", "source_url": "http://169.254.169.254/"},
        headers=ADMIN,
    )
    assert r.status_code == 422 and "métadonnées" in r.json()["detail"]


def test_health_shows_the_workers_figures_and_the_disk_used(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    _create(review)
    r = review.get("/api/v1/cameras/etang-nord/health", headers=VIEWER)
    assert r.status_code == 200
    assert r.json()["state"] is None and r.json()["disk_used_bytes"] == 0 and r.json()["view_at"] is None
    last = datetime(2026, 11, 28, 11, 59, 58, tzinfo=UTC)
    db.execute(
        "INSERT INTO camera_health (camera_id, state, last_frame_at, width, height, fps_in, fps_processed,"
        " frames_in, frames_dropped, reconnects, disk_state, last_error)"
        " VALUES ('etang-nord', 'online', %s, 1280, 720, 5.0, 4.5, 1000, 37, 2, 'ok', NULL)",
        (last,),
    )
    for i, size in enumerate((1_000_000, 250_000)):
        event = make_event(db, "etang-nord", start=T0 + timedelta(minutes=i), clip=f"etang-nord/x/{i}.mp4")
        db.execute("UPDATE camera_events SET media_bytes = %s WHERE id = %s", (size, event))
    write_view(media_dir, "etang-nord", np.zeros((720, 1280, 3), np.uint8), 80)
    h = review.get("/api/v1/cameras/etang-nord/health", headers=NATURALIST).json()
    assert h["state"] == "online" and h["fps_in"] == 5.0 and h["fps_processed"] == 4.5
    assert h["frames_dropped"] == 37 and h["frames_in"] == 1000 and h["reconnects"] == 2
    assert datetime.fromisoformat(h["last_frame_at"]) == last
    assert h["disk_used_bytes"] == 1_250_000 and h["clips"] == 2
    assert h["view_at"] is not None and h["report_age_s"] >= 0
    assert review.get("/api/v1/cameras/inconnue/health", headers=ADMIN).status_code == 404


def test_the_current_view_is_served_with_an_etag_and_no_cache(review: TestClient, media_dir: Path) -> None:
    _create(review)
    r = review.get("/api/v1/cameras/etang-nord/snapshot.jpg", headers=VIEWER)
    assert r.status_code == 404 and "aucune vue actuelle" in r.json()["detail"]
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    write_view(media_dir, "etang-nord", frame, 80)
    r = review.get("/api/v1/cameras/etang-nord/snapshot.jpg", headers=VIEWER)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    assert r.headers["cache-control"] == "no-cache" and r.headers["etag"]
    same = review.get(
        "/api/v1/cameras/etang-nord/snapshot.jpg", headers={**VIEWER, "If-None-Match": r.headers["etag"]}
    )
    assert same.status_code == 304
    # Downscaled by the worker (longest side 960 px).
    picture = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    assert picture.shape[:2] == (540, 960)
    assert review.get("/api/v1/cameras/inconnue/snapshot.jpg", headers=ADMIN).status_code == 404


def test_masks_are_saved_in_the_config_and_notified(review: TestClient, db: Conn, database_url: str) -> None:
    _create(review)
    db.execute("UPDATE cameras SET motion_config = '{\"detector\": \"mog2\"}' WHERE id = 'etang-nord'")
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CAMERA_CONFIG}")
        r = review.put(
            "/api/v1/cameras/etang-nord/masks", json={"masks": [{"points": SQUARE}]}, headers=ADMIN
        )
        assert r.status_code == 200, r.text
        notes = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert notes == ["etang-nord"]
    assert r.json()["masks"] == [{"points": SQUARE}]
    row = db.execute("SELECT motion_config FROM cameras WHERE id = 'etang-nord'").fetchone()
    assert row == ({"detector": "mog2", "masks": [{"points": SQUARE}]},)  # the rest of the config stays
    got = review.get("/api/v1/cameras/etang-nord/masks", headers=VIEWER).json()
    assert got["masks"] == [{"points": SQUARE}]
    assert (
        review.put("/api/v1/cameras/etang-nord/masks", json={"masks": []}, headers=ADMIN).json()["masks"]
        == []
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"masks": [{"points": [[0, 0], [1, 0]]}]}, "au moins 3 points"),
        ({"masks": [{"points": [[0, 0], [1.5, 0], [1, 1]]}]}, "sort de l'image"),
        ({"masks": [{"points": [[0, 0], [-0.1, 0], [1, 1]]}]}, "sort de l'image"),
        ({"masks": [{"points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}, "se croise"),
        ({"masks": [{"points": SQUARE}] * 33}, "masks"),
        (
            {
                "masks": [
                    {
                        "points": [
                            [0.5 + 0.4 * np.cos(a), 0.5 + 0.4 * np.sin(a)] for a in np.linspace(0, 6, 257)
                        ]
                    }
                ]
            },
            "points",
        ),
        ({"masks": [{"points": [["a", "b"], [0, 1], [1, 1]]}]}, "points"),
        ({"masks": [{"points": SQUARE, "extra": 1}]}, "extra"),
        ({"masks": "tout"}, "masks"),
        ({}, "masks"),
    ],
)
def test_bad_masks_are_refused_and_the_stored_ones_stay(
    review: TestClient, db: Conn, body: dict[str, Any], why: str
) -> None:
    _create(review)
    assert (
        review.put(
            "/api/v1/cameras/etang-nord/masks", json={"masks": [{"points": SQUARE}]}, headers=ADMIN
        ).status_code
        == 200
    )
    r = review.put("/api/v1/cameras/etang-nord/masks", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("masques refusés") and why in r.json()["detail"], r.json()
    row = db.execute("SELECT motion_config -> 'masks' FROM cameras WHERE id = 'etang-nord'").fetchone()
    assert row == ([{"points": SQUARE}],)


def test_masks_of_an_unknown_camera_are_404(review: TestClient) -> None:
    r = review.put("/api/v1/cameras/inconnue/masks", json={"masks": []}, headers=ADMIN)
    assert r.status_code == 404 and r.json()["detail"] == "caméra inconnue : inconnue"
