"""An event's files: Range requests on the clip (206 start, middle, suffix; 416; 200), ETag and
304, pictures made from the clip and cached, and path traversal both ways (hostile ids in the
URL, and a stored path tampered to point outside the media directory)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

from camera.clips import ClipOptions, ClipWriter
from simulators.webcam.scene import Scene, SceneConfig
from tests.api.review_support import (
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


def test_clip_ranges_start_middle_suffix_and_whole(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    eid, clip = event_with_clip(db, media_dir)
    data = clip.read_bytes()
    size = len(data)
    assert size > 1000
    url = f"/api/v1/events/{eid}/clip"

    whole = review.get(url, headers=VIEWER)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(size)
    assert "max-age" in whole.headers["cache-control"] and whole.headers["etag"].startswith('"')

    for header, start, end in (
        ("bytes=0-99", 0, 99),
        (f"bytes={size // 2}-{size // 2 + 9}", size // 2, size // 2 + 9),
        ("bytes=-100", size - 100, size - 1),
        (f"bytes={size - 10}-", size - 10, size - 1),
        (f"bytes=10-{size + 5000}", 10, size - 1),  # an end past the file is clamped
    ):
        r = review.get(url, headers=VIEWER | {"Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start : end + 1], header
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}", header
        assert r.headers["content-length"] == str(end - start + 1)

    for header in (
        f"bytes={size}-",
        "bytes=50-10",
        "bytes=-0",
        "bytes=abc",
        "bytes=0-1,5-9",
        "items=0-5",
        "bytes=-",
    ):
        r = review.get(url, headers=VIEWER | {"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
        assert "plage" in r.json()["detail"]


def test_etag_gives_304_and_if_range_a_stale_copy_the_whole_file(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    make_camera(db)
    eid, clip = event_with_clip(db, media_dir)
    url = f"/api/v1/events/{eid}/clip"
    etag = review.get(url, headers=VIEWER).headers["etag"]
    r = review.get(url, headers=VIEWER | {"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert review.get(url, headers=VIEWER | {"If-None-Match": '"autre"'}).status_code == 200
    r = review.get(url, headers=VIEWER | {"Range": "bytes=0-9", "If-Range": '"ancien"'})
    assert r.status_code == 200 and len(r.content) == clip.stat().st_size
    assert review.get(url, headers=VIEWER | {"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    # A rewritten file gets a new validator.
    os.utime(clip, ns=(1, 1))
    assert review.get(url, headers=VIEWER | {"If-None-Match": etag}).status_code == 200


def test_poster_thumbnail_and_snapshot_are_made_from_the_clip_and_cached(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    make_camera(db)
    eid, clip = event_with_clip(db, media_dir)
    for kind, suffix, width in (
        ("poster", ".poster.jpg", 96),
        ("thumbnail", ".thumb.jpg", 96),
        ("snapshot", ".jpg", 96),
    ):
        cached = clip.with_name(clip.stem + suffix)
        assert not cached.exists()
        r = review.get(f"/api/v1/events/{eid}/{kind}", headers=VIEWER)
        assert r.status_code == 200, (kind, r.text)
        assert r.headers["content-type"] == "image/jpeg"
        picture = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape[1] == width, kind
        assert cached.read_bytes() == r.content, kind  # cached beside the clip
        again = review.get(
            f"/api/v1/events/{eid}/{kind}", headers=VIEWER | {"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304


def test_the_worker_s_own_snapshot_is_served_as_stored(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    (media_dir / "etang-nord").mkdir()
    (media_dir / "etang-nord" / "a.jpg").write_bytes(b"\xff\xd8worker-snapshot\xff\xd9")
    eid = make_event(db, snapshot="etang-nord/a.jpg", thumbnail="etang-nord/a.jpg")
    r = review.get(f"/api/v1/events/{eid}/snapshot", headers=VIEWER)
    assert r.status_code == 200 and r.content == b"\xff\xd8worker-snapshot\xff\xd9"
    # No clip: no poster, and a clear French 404.
    r = review.get(f"/api/v1/events/{eid}/poster", headers=VIEWER)
    assert r.status_code == 404 and r.json()["detail"] == "média introuvable pour cet événement"
    assert review.get(f"/api/v1/events/{eid}/clip", headers=VIEWER).status_code == 404


def test_hostile_ids_never_reach_the_file_system(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    event_with_clip(db, media_dir)
    for bad in (
        "..%2F..%2Fetc%2Fpasswd",
        "../../etc/passwd",
        "1%00",
        "1;rm",
        "-1",
        "0",
        str(2**63),
        "%2e%2e",
    ):
        for kind in ("clip", "snapshot", "thumbnail", "poster"):
            r = review.get(f"/api/v1/events/{bad}/{kind}", headers=VIEWER)
            assert r.status_code in (404, 422), (bad, kind, r.status_code)
            assert b"root:" not in r.content


def test_a_tampered_stored_path_outside_the_media_dir_is_refused(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path
) -> None:
    make_camera(db)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not yours")
    (media_dir / "etang-nord").mkdir()
    (media_dir / "etang-nord" / "link.mp4").symlink_to(secret)
    for stored in (
        "../secret.mp4",
        str(secret),
        "etang-nord/../../secret.mp4",
        "etang-nord/link.mp4",
        "/etc/passwd",
        ".",
    ):
        eid = make_event(db, clip=stored, snapshot=stored, thumbnail=stored, confidence=len(stored) / 100)
        for kind in ("clip", "snapshot", "thumbnail", "poster"):
            r = review.get(f"/api/v1/events/{eid}/{kind}", headers=NATURALIST)
            assert r.status_code == 404, (stored, kind, r.status_code)
            assert b"not yours" not in r.content and b"root:" not in r.content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "secret.mp4"]  # nothing written outside


def test_a_clip_the_worker_wrote_from_the_simulated_webcam(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    """The worker's own H.264 clip (ClipWriter) of a simulator scene: ranges, its snapshot,
    and a poster that OpenCV decodes from the H.264 stream."""
    make_camera(db)
    scene = Scene(SceneConfig(seconds=6.0, fps=5.0, width=320, height=180, first_animal_s=1.0, seed=3))
    start = T0.timestamp()
    writer = ClipWriter(media_dir, "etang-nord", "sim-p1", start, fps=5.0, options=ClipOptions())
    for i in range(scene.config.frames):
        writer.add(scene.render(i), start + i / 5.0, score=float(i == 15))
    files = writer.close()
    assert files.clip_path and files.snapshot_path
    eid = make_event(db, clip=files.clip_path, snapshot=files.snapshot_path, thumbnail=files.thumbnail_path)
    clip = media_dir / files.clip_path
    size = clip.stat().st_size
    r = review.get(f"/api/v1/events/{eid}/clip", headers=VIEWER | {"Range": "bytes=-512"})
    assert r.status_code == 206 and r.content == clip.read_bytes()[-512:]
    assert r.headers["content-range"] == f"bytes {size - 512}-{size - 1}/{size}"
    r = review.get(f"/api/v1/events/{eid}/snapshot", headers=VIEWER)
    assert r.content == (media_dir / files.snapshot_path).read_bytes()
    r = review.get(f"/api/v1/events/{eid}/poster", headers=VIEWER)
    assert r.status_code == 200
    poster = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert poster is not None and poster.shape[:2] == (180, 320)
