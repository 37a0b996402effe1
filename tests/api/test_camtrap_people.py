"""Events with a person in the Camtrap DP export: left out by default (a naturalist's export,
an admin's too), refused to a naturalist who asks for them, and, when an admin includes them,
exported with the people blurred: inside the person's box the picture loses its detail,
outside it stays as it was (give or take the re-encoding). The package still validates."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import psycopg
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
from tests.api.test_camtrap_export import rows, unpack
from tests.camtrap_check import profile_errors, table_errors

__all__ = ["media_dir", "review"]
URL = "/api/v1/camtrap-dp.zip"
RANGE = {"start": (T0 - timedelta(days=1)).isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
# The person's box, normalised (x, y, w, h); the blur grows it by 15 % on each side.
BOX = (0.25, 0.2, 0.25, 0.5)
SIZE = (320, 240)


def textured_clip(path: Path, frames: int = 10) -> None:
    """A clip full of fine detail (a checkerboard with noise), so that a blur shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 5.0, SIZE)
    assert writer.isOpened()
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0 : SIZE[1], 0 : SIZE[0]]
    board = (((yy // 6) + (xx // 6)) % 2 * 180 + 40).astype(np.uint8)
    for _ in range(frames):
        noise = rng.integers(0, 30, board.shape, dtype=np.uint8)
        grey = cv2.add(board, noise)
        writer.write(cv2.merge([grey, grey, grey]))
    writer.release()


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]


def detail(image: np.ndarray) -> float:
    """High-frequency energy (variance of the Laplacian)."""
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def seed(review: TestClient, db: Conn, media_dir: Path) -> dict[str, Any]:
    """A deployment with a deer event and a walker event (flagged by a naturalist, with the
    detector's box), each with an observation."""
    make_camera(db)
    r = review.post(
        "/api/v1/deployments",
        json={
            "camera_id": "etang-nord",
            "lat": 49.41,
            "lon": 2.82,
            "start_ts": (T0 - timedelta(days=3)).isoformat(),
        },
        headers=NATURALIST,
    )
    assert r.status_code == 201, r.text
    deer, _ = event_with_clip(db, media_dir, start=T0)
    rel = f"etang-nord/{T0:%Y/%m/%d}/walker.mp4"
    textured_clip(media_dir / rel)
    walker = make_event(db, start=T0 + timedelta(minutes=10), clip=rel, boxes=[])
    x, y, w, h = BOX
    db.execute(
        "INSERT INTO person_proposals (event_id, proposed, score, boxes, frames, detector)"
        " VALUES (%s, true, 1.4, %s, 3, 'opencv-hog')",
        (walker, Jsonb([{"t": 0.4, "x": x, "y": y, "w": w, "h": h, "score": 1.4}])),
    )
    for eid, name in ((deer, "Capreolus capreolus"), (walker, "Vulpes vulpes")):
        r = review.post(
            f"/api/v1/events/{eid}/observations", json={"scientific_name": name}, headers=NATURALIST
        )
        assert r.status_code == 201
    r = review.patch(f"/api/v1/events/{walker}", json={"person": True}, headers=NATURALIST)
    assert r.status_code == 200
    return {"dep": r.json()["deployment_id"], "deer": deer, "walker": walker, "walker_clip": media_dir / rel}


def test_flagged_events_are_left_out_of_exports_by_default(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path
) -> None:
    s = seed(review, db, media_dir)
    for who, name in ((NATURALIST, "nat"), (ADMIN, "adm")):
        r = review.get(URL, params={**RANGE, "media": "files"}, headers=who)
        assert r.status_code == 200, r.text
        folder = unpack(r.content, tmp_path / name)
        assert [m["mediaID"] for m in rows(folder, "media")] == [f"media-{s['deer']}"]
        assert {o["eventID"] for o in rows(folder, "observations")} == {f"event-{s['deer']}"}
        assert [p.name for p in (folder / "media").iterdir()] == [f"media-{s['deer']}.mp4"]
        descriptor = json.loads((folder / "datapackage.json").read_text())
        assert [t["scientificName"] for t in descriptor["taxonomic"]] == ["Capreolus capreolus"]
        assert table_errors(folder) == [] and profile_errors(descriptor) == []
    # The species summary a viewer reads leaves the walker's fox out as well.
    summary = review.get("/api/v1/species-summary", headers=VIEWER).json()["items"]
    assert [i["scientific_name"] for i in summary] == ["Capreolus capreolus"]


def test_only_an_admin_may_include_people(
    review: TestClient, db: Conn, media_dir: Path, database_url: str
) -> None:
    seed(review, db, media_dir)
    for who in (NATURALIST, VIEWER):
        r = review.get(URL, params={**RANGE, "include_people": "true"}, headers=who)
        assert r.status_code == 403 and r.json()["detail"].startswith("accès refusé")
    for bad in ("oui", "2", "", "true" * 100):
        r = review.get(URL, params={**RANGE, "include_people": bad}, headers=ADMIN)
        assert r.status_code == 422 and r.json()["detail"].startswith("requête refusée"), bad
    assert review.get(URL, params={**RANGE, "include_people": "true"}, headers=ADMIN).status_code == 200
    with psycopg.connect(database_url) as conn:
        details = [
            r[0] for r in conn.execute("SELECT detail FROM audit_log WHERE action = 'export' ORDER BY id")
        ]
    assert [d["include_people"] for d in details] == [True]


def test_an_admin_export_with_people_blurs_them_and_validates(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path
) -> None:
    s = seed(review, db, media_dir)
    r = review.get(URL, params={**RANGE, "media": "files", "include_people": "true"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    folder = unpack(r.content, tmp_path / "pkg")
    media = {m["mediaID"]: m for m in rows(folder, "media")}
    assert set(media) == {f"media-{s['deer']}", f"media-{s['walker']}"}
    exported = folder / media[f"media-{s['walker']}"]["filePath"]
    assert media[f"media-{s['walker']}"]["fileName"].endswith(".blurred.mp4")
    assert table_errors(folder) == []
    assert profile_errors(json.loads((folder / "datapackage.json").read_text())) == []

    original, blurred = frames_of(s["walker_clip"]), frames_of(exported)
    assert len(blurred) == len(original) and blurred[0].shape == original[0].shape
    h, w = original[0].shape[:2]
    x, y, bw, bh = BOX
    inside = (
        slice(int((y + 0.05) * h), int((y + bh - 0.05) * h)),
        slice(int((x + 0.03) * w), int((x + bw - 0.03) * w)),
    )
    outside = (slice(0, h), slice(int(0.72 * w), w))  # right of the grown box
    for before, after in zip(original, blurred, strict=True):
        # Inside the box the detail is gone; outside the picture is the same, give or take
        # the re-encoding.
        assert detail(after[inside]) < 0.05 * detail(before[inside])
        assert float(np.mean(cv2.absdiff(after[outside], before[outside]))) < 12
        assert detail(after[outside]) > 0.5 * detail(before[outside])


def test_an_export_by_url_points_at_the_blurred_rendition(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path
) -> None:
    s = seed(review, db, media_dir)
    r = review.get(URL, params={**RANGE, "include_people": "true"}, headers=ADMIN)
    folder = unpack(r.content, tmp_path / "pkg")
    media = {m["mediaID"]: m["filePath"] for m in rows(folder, "media")}
    assert media[f"media-{s['walker']}"].endswith(f"/api/v1/events/{s['walker']}/blurred-clip")
    assert media[f"media-{s['deer']}"].endswith(f"/api/v1/events/{s['deer']}/clip")
    path = f"/api/v1/events/{s['walker']}/blurred-clip"
    got = review.get(path, headers=ADMIN)
    assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
    part = review.get(path, headers={**ADMIN, "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    # A viewer cannot reach it; an unknown event is a 404.
    assert review.get(path, headers=VIEWER).status_code == 403
    assert review.get("/api/v1/events/999999/blurred-clip", headers=ADMIN).status_code == 404
    # Deleting the event removes the rendition too.
    rendition = s["walker_clip"].with_name("walker.blurred.mp4")
    assert rendition.is_file()
    review.patch(f"/api/v1/events/{s['walker']}", json={"person": False}, headers=NATURALIST)
    r = review.post(
        "/api/v1/bulk/events", json={"ids": [s["walker"]], "action": "delete"}, headers=NATURALIST
    )
    assert r.json()["done"] == [s["walker"]]
    assert not rendition.exists() and not s["walker_clip"].exists()
