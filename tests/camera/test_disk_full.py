"""The camera on a media volume that really fills: a small tmpfs, filled with a ballast file
(issue 14, disk full). The full fault under load is in `make chaos` (bench/chaos.py, disk)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from camera import store
from camera.sources import Frame
from camera.worker import CameraWorker, WorkerDeps
from tests.camera.factories import camera, unique
from tests.camera.test_worker import SHORT_EVENTS, add, moving_square, settings

Conn = psycopg.Connection[tuple[object, ...]]
MIB = 1024**2


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a real filesystem that runs out of space (needs root, as make test has here)."""
    media = tmp_path / "media"
    media.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(media)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield media
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def fill(volume: Path, leave: int) -> Path:
    """A ballast file that leaves about `leave` bytes free; an OSError (ENOSPC) ends it early."""
    ballast = volume / "ballast"
    size = shutil.disk_usage(volume).free - leave
    with open(ballast, "wb") as f:
        while size > 0:
            n = min(size, MIB)
            try:
                f.write(b"\0" * n)
                f.flush()
            except OSError:
                break
            size -= n
    return ballast


def one_event(worker: CameraWorker, t0: float) -> None:
    """Eight seconds of frames, a square moving for two of them: one event (SHORT_EVENTS)."""
    for i in range(80):
        t = i / 10
        worker.process_frame(Frame(moving_square(t) if 2 <= t < 4 else moving_square(0), t0 + t))


def test_full_volume_stops_clips_says_so_and_recording_resumes_when_space_returns(
    db: Conn, pool: ConnectionPool, small_volume: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cam = add(db, camera(unique("plein"), event_config=SHORT_EVENTS))
    cfg = settings(small_volume.parent, media_dir=small_volume, min_free_bytes=4 * MIB)
    worker = CameraWorker(cam, WorkerDeps(cfg, pool, allow_private=True))
    assert worker.prepare()
    ballast = fill(small_volume, leave=2 * MIB)
    assert shutil.disk_usage(small_volume).free < 4 * MIB
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
    with caplog.at_level(logging.WARNING, logger="camera.worker"):
        one_event(worker, t0)
        # The event is kept, without a clip, and the worker says why: log, state, health row.
        (first,) = store.list_events(db, cam.id)
        assert first["clip_path"] is None and "disque presque plein" in first["media_error"]
        assert worker.disk_state == "full"
        health = store.get_health(db, cam.id)
        assert health is not None and health["disk_state"] == "full"
        assert any(r.levelno == logging.CRITICAL and "disque" in r.getMessage() for r in caplog.records)
        assert [p.name for p in small_volume.rglob("*") if p.is_file()] == ["ballast"]

        ballast.unlink()  # space is back
        one_event(worker, t0 + 20)
        worker.finish()
    events = sorted(store.list_events(db, cam.id), key=lambda e: e["start_ts"])
    assert len(events) == 2
    second = events[1]
    assert second["clip_path"] is not None and second["media_error"] is None
    assert (small_volume / second["clip_path"]).stat().st_size > 0
    assert worker.disk_state == "ok"
    health = store.get_health(db, cam.id)
    assert health is not None and health["disk_state"] == "ok"
    assert any("espace disque revenu" in r.getMessage() for r in caplog.records)


def test_volume_filling_during_a_clip_keeps_the_event_and_the_worker(
    db: Conn, pool: ConnectionPool, small_volume: Path
) -> None:
    """No free-space margin (min_free_bytes=0) and a volume filled to the last byte: the writes fail
    with ENOSPC mid-clip; the event stays, no half-written file under a real name, next frames go on."""
    cam = add(db, camera(unique("enospc"), event_config=SHORT_EVENTS))
    cfg = settings(small_volume.parent, media_dir=small_volume, min_free_bytes=0)
    worker = CameraWorker(cam, WorkerDeps(cfg, pool, allow_private=True))
    assert worker.prepare()
    fill(small_volume, leave=0)  # until ENOSPC
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp()
    one_event(worker, t0)
    one_event(worker, t0 + 20)
    worker.finish()
    events = store.list_events(db, cam.id)
    assert len(events) == 2
    assert all(e["clip_path"] is None and e["media_error"] for e in events)
    assert not [p for p in small_volume.rglob("*.mp4")]
