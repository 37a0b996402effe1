"""Each camera's detect loop reports a heartbeat, which goes stale when that loop blocks."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from camera import store
from camera.worker import CameraWorker, WorkerDeps
from tests.camera.factories import camera, unique
from tests.camera.live_server import LiveServer, Scene
from tests.support import wait_for
from vigie.heartbeat import HeartbeatReporter, read_heartbeats
from vigie.settings import CameraSettings

Conn = psycopg.Connection[tuple[Any, ...]]


def test_camera_detect_loop_heartbeat_stalls_on_a_blocked_write_and_recovers(
    db: Conn, pool: ConnectionPool, database_url: str, tmp_path: Path
) -> None:
    live = LiveServer(Scene()).start()
    cam = camera(unique("piege"), url=live.snapshot_url, source_kind="snapshot", snapshot_interval_s=0.2)
    store.upsert_camera(db, cam)
    cfg = CameraSettings(
        media_dir=tmp_path / "media", min_free_bytes=0, watchdog_s=5.0, health_interval_s=0.3
    )
    reporter = HeartbeatReporter(database_url, "camera", report_s=0.2)
    # The test webcam is on loopback: allowed here as the demo allows its own.
    worker = CameraWorker(cam, WorkerDeps(cfg, pool, heartbeats=reporter, stall_s=1.5, allow_private=True))
    loop = f"camera:{cam.id}"

    def state() -> dict[str, bool]:
        return {b.loop: b.stalled for b in read_heartbeats(db)}

    reporter.start()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: state() == {loop: False} and worker.state == "online", timeout=15)
        # The detect loop writes the camera's health: a lock held on that table (a real one,
        # in the real database) blocks it in the middle of its work.
        with psycopg.connect(database_url) as locker:
            locker.execute("LOCK TABLE camera_health IN ACCESS EXCLUSIVE MODE")
            wait_for(lambda: state() == {loop: True}, timeout=10)
            locker.rollback()
        wait_for(lambda: state() == {loop: False}, timeout=10)
    finally:
        worker.stop()
        thread.join(timeout=30)
        live.stop()
    # A camera stopped on purpose is removed, not left looking stalled.
    wait_for(lambda: state() == {}, timeout=5)
    reporter.stop()
