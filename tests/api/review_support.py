"""Cameras, events and their files for the review's tests, written through the admin login
(as the camera worker would), and an API client whose media directory is the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.app import create_app
from tests.api.conftest import LOOPBACK, bearer, role_token
from vigie.settings import CameraSettings, Settings

Conn = psycopg.Connection[tuple[object, ...]]
NATURALIST = bearer(role_token("naturalist"))
VIEWER = bearer(role_token("viewer"))
ADMIN = bearer(role_token("admin"))
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # midday: day at the Deux Vallées


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    """The test's media directory."""
    path = tmp_path / "media"
    path.mkdir()
    return path


@pytest.fixture
def review(api_settings: Settings, media_dir: Path) -> Iterator[TestClient]:
    """An API client (no token) whose media directory is media_dir."""
    settings = api_settings.model_copy(update={"camera": CameraSettings(media_dir=media_dir)})
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        yield c


def make_camera(conn: Conn, camera_id: str = "etang-nord") -> str:
    """A camera row (the worker's table)."""
    conn.execute(
        "INSERT INTO cameras (id, name, source_url, source_kind) VALUES (%s, %s, %s, 'file')"
        " ON CONFLICT (id) DO NOTHING",
        (camera_id, f"Caméra {camera_id}", "file:///dev/null"),
    )
    return camera_id


def write_clip(path: Path, frames: int = 25, fps: float = 5.0, size: tuple[int, int] = (96, 64)) -> int:
    """A small MP4 whose frames differ (a bright square moves); returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 40, np.uint8)
        x = (i * 3) % (size[0] - 16)
        frame[20:36, x : x + 16] = (0, 200, 255)
        writer.write(frame)
    writer.release()
    return path.stat().st_size


def make_event(
    conn: Conn,
    camera_id: str = "etang-nord",
    *,
    start: datetime = T0,
    duration_s: float = 20.0,
    confidence: float = 1.0,
    doubt_guard: str | None = None,
    clip: str | None = None,
    snapshot: str | None = None,
    thumbnail: str | None = None,
    favourite: bool = False,
    peak_score: float | None = 0.02,
    boxes: list[dict[str, float]] | None = None,
) -> int:
    """An event row as the worker finishes it; returns its id."""
    key = start.strftime("%Y%m%dT%H%M%S%fZ") + f"-{confidence}"
    row = conn.execute(
        "INSERT INTO camera_events (camera_id, event_key, start_ts, end_ts, clip_start_ts, peak_score,"
        " peak_ts, boxes, clip_path, snapshot_path, thumbnail_path, confidence, doubt_guard, favourite)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            camera_id,
            key,
            start,
            start + timedelta(seconds=duration_s),
            start,
            peak_score,
            start + timedelta(seconds=duration_s / 2),
            Jsonb(boxes if boxes is not None else [{"t": 1.0, "x": 0.1, "y": 0.2, "w": 0.3, "h": 0.2}]),
            clip,
            snapshot,
            thumbnail,
            confidence,
            doubt_guard,
            favourite,
        ),
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def event_with_clip(
    conn: Conn, media_dir: Path, camera_id: str = "etang-nord", **kw: Any
) -> tuple[int, Path]:
    """An event whose clip exists under media_dir (no snapshot or thumbnail)."""
    start: datetime = kw.pop("start", T0)
    rel = f"{camera_id}/{start:%Y/%m/%d}/{start:%Y%m%dT%H%M%S}.mp4"
    write_clip(media_dir / rel)
    return make_event(conn, camera_id, start=start, clip=rel, **kw), media_dir / rel
