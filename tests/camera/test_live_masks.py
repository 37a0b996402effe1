"""Masks drawn through the API reach a running camera worker without a restart: a real
supervisor LISTENing as the camera's login, a real MJPEG camera where a square crosses the
middle of the view every few seconds, and the real API (as its own login) saving the masks.

Motion inside the newly masked band stops producing events; the worker, its thread and its
stream connection stay the same; taking the masks away brings the events back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from api.app import create_app
from camera import store
from camera.cli import Supervisor
from camera.worker import WorkerDeps
from tests.camera.factories import camera, unique
from tests.camera.live_server import LiveServer, Scene
from tests.factories import make_user
from tests.support import Broker, wait_for
from vigie.db import connect
from vigie.settings import CameraSettings, OutboundSettings, Settings

Conn = psycopg.Connection[tuple[object, ...]]
TOKEN = "vigie_test-masks-admin-0123456789"
SHORT_EVENTS = {"pre_roll_s": 0.5, "post_roll_s": 0.5, "gap_s": 0.5, "max_clip_s": 10.0}
# The square crosses the frame's middle band (y 0.375-0.625) from left to right.
BAND = [[0.0, 0.25], [1.0, 0.25], [1.0, 0.75], [0.0, 0.75]]
PERIOD_S = 5.0


def _events_since(db: Conn, cam_id: str, since: datetime) -> list[dict[str, Any]]:
    return [e for e in store.list_events(db, cam_id) if e["start_ts"] >= since]


def _supervise(
    pool: ConnectionPool, cfg: CameraSettings, service_db_url: Callable[[str], str]
) -> tuple[Supervisor, threading.Thread]:
    """A running supervisor that LISTENs as the camera's login. Its reload_s is long: a change
    can only reach it through the API's NOTIFY within the tests' waits."""
    supervisor = Supervisor(
        pool,
        lambda: WorkerDeps(cfg, pool, allow_private=True),
        reload_s=600,
        listen=lambda: connect(service_db_url("camera"), application_name="test-camera", autocommit=True),
    )
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    return supervisor, thread


@pytest.fixture
def api(
    database_url: str, service_db_url: Callable[[str], str], broker: Broker, tmp_path: Path
) -> Iterator[TestClient]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_user(conn, "claire", ["admin"], token=TOKEN)
    settings = Settings(
        database_url=SecretStr(service_db_url("api")),
        mqtt_url=SecretStr(broker.url("vigie-api")),
        camera=CameraSettings(media_dir=tmp_path / "media"),
        outbound=OutboundSettings(allow_private=True),
    )
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def test_masks_saved_through_the_api_apply_to_the_running_worker(
    db: Conn, pool: ConnectionPool, service_db_url: Callable[[str], str], api: TestClient, tmp_path: Path
) -> None:
    crossings = tuple((1.0 + PERIOD_S * i, 2.5 + PERIOD_S * i) for i in range(40))
    server = LiveServer(Scene(crossings=crossings), fps=10).start()
    cam = camera(unique("masques"), url=server.url, event_config=SHORT_EVENTS)
    store.upsert_camera(db, cam)
    cfg = CameraSettings(
        media_dir=tmp_path / "media",
        min_free_bytes=0,
        watchdog_s=5.0,
        health_interval_s=0.5,
        view_interval_s=0.5,
    )
    supervisor, thread = _supervise(pool, cfg, service_db_url)
    try:
        start = datetime.now(UTC)
        wait_for(lambda: [e for e in _events_since(db, cam.id, start) if e["end_ts"]], timeout=30)
        running = supervisor.running[cam.id]
        worker, worker_thread = running.worker, running.thread
        # The worker wrote its current view: the page draws on it.
        view = api.get(f"/api/v1/cameras/{cam.id}/snapshot.jpg")
        assert view.status_code == 200 and view.content[:2] == b"\xff\xd8"

        r = api.put(f"/api/v1/cameras/{cam.id}/masks", json={"masks": [{"points": BAND}]})
        assert r.status_code == 200, r.text
        wait_for(lambda: len(worker.masks) == 1, timeout=10)
        # Let an event that was under way when the masks came end, then watch three crossings.
        wait_for(lambda: worker._recording is None, timeout=10)
        masked_from = datetime.now(UTC)
        time.sleep(3 * PERIOD_S)
        assert _events_since(db, cam.id, masked_from) == []
        assert supervisor.running[cam.id].worker is worker and worker_thread.is_alive()
        assert worker.counters.reconnects == 0  # the stream was never reopened
        assert worker.counters.frames_processed > 0

        # Masks taken away: the same worker records the next crossing again.
        assert api.put(f"/api/v1/cameras/{cam.id}/masks", json={"masks": []}).status_code == 200
        wait_for(lambda: worker.masks == (), timeout=10)
        unmasked_from = datetime.now(UTC)
        wait_for(lambda: _events_since(db, cam.id, unmasked_from), timeout=3 * PERIOD_S)
        assert supervisor.running[cam.id].worker is worker
    finally:
        supervisor.stop()
        thread.join(timeout=30)
        server.stop()
    assert not thread.is_alive()


def test_any_other_change_restarts_that_cameras_worker(
    db: Conn, pool: ConnectionPool, service_db_url: Callable[[str], str], api: TestClient, tmp_path: Path
) -> None:
    server = LiveServer(Scene(), fps=5).start()
    cam = camera(unique("autre"), url=server.url)
    store.upsert_camera(db, cam)
    cfg = CameraSettings(
        media_dir=tmp_path / "media", min_free_bytes=0, watchdog_s=5.0, health_interval_s=0.5
    )
    supervisor, thread = _supervise(pool, cfg, service_db_url)
    try:
        wait_for(lambda: cam.id in supervisor.running, timeout=10)
        first = supervisor.running[cam.id].worker
        # Hostile notifications on the channel (anyone with a login may NOTIFY): the payload is
        # never trusted, only a reason to read the table again; the supervisor carries on.
        for payload in ("", "x" * 7000, "'; DROP TABLE cameras; --", "\u00e9 \u2603 ?"):
            db.execute("SELECT pg_notify('vigie_camera_config', %s)", (payload,))
        time.sleep(1.0)
        assert thread.is_alive() and supervisor.running[cam.id].worker is first
        r = api.patch(f"/api/v1/cameras/{cam.id}", json={"retention_days": 7})
        assert r.status_code == 200, r.text
        wait_for(
            lambda: cam.id in supervisor.running and supervisor.running[cam.id].worker is not first,
            timeout=10,
        )
        assert supervisor.running[cam.id].camera.retention_days == 7
        r = api.patch(f"/api/v1/cameras/{cam.id}", json={"enabled": False})
        wait_for(lambda: cam.id not in supervisor.running, timeout=10)
    finally:
        supervisor.stop()
        thread.join(timeout=30)
        server.stop()


def test_valid_masks_restart_a_camera_that_stopped_on_invalid_ones(
    db: Conn, pool: ConnectionPool, service_db_url: Callable[[str], str], api: TestClient, tmp_path: Path
) -> None:
    server = LiveServer(Scene(), fps=5).start()
    crossing = {"masks": [{"points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}
    cam = camera(unique("repare"), url=server.url, motion_config=crossing)
    store.upsert_camera(db, cam)
    cfg = CameraSettings(
        media_dir=tmp_path / "media", min_free_bytes=0, watchdog_s=5.0, health_interval_s=0.5
    )
    supervisor, thread = _supervise(pool, cfg, service_db_url)
    try:
        wait_for(lambda: (store.get_health(db, cam.id) or {}).get("state") == "error", timeout=15)
        assert (
            api.put(f"/api/v1/cameras/{cam.id}/masks", json={"masks": [{"points": BAND}]}).status_code == 200
        )
        wait_for(lambda: (store.get_health(db, cam.id) or {}).get("state") == "online", timeout=20)
        assert len(supervisor.running[cam.id].worker.masks) == 1
    finally:
        supervisor.stop()
        thread.join(timeout=30)
        server.stop()
