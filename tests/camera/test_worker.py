"""The live worker: events to camera_events and MQTT, clips with pre-roll, reconnect, drops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from camera import store
from camera.mqtt_events import CameraPublisher
from camera.sources import Frame
from camera.store import Camera
from camera.worker import CameraWorker, WorkerDeps
from tests.camera.factories import MqttCollector, camera, unique
from tests.camera.live_server import LiveServer, Scene
from tests.support import wait_for
from vigie.camera_view import view_path
from vigie.settings import CameraSettings

Conn = psycopg.Connection[tuple[object, ...]]
SHORT_EVENTS = {"pre_roll_s": 1.0, "post_roll_s": 1.0, "gap_s": 1.0, "max_clip_s": 10.0}


def settings(tmp_path: Path, **kw: Any) -> CameraSettings:
    values: dict[str, Any] = {
        "media_dir": tmp_path / "media",
        "min_free_bytes": 0,
        "watchdog_s": 1.0,
        "backoff_max_s": 1.0,
        "health_interval_s": 0.5,
        **kw,
    }
    return CameraSettings(**values)


@contextmanager
def running(worker: CameraWorker) -> Iterator[CameraWorker]:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "worker did not stop"


def add(db: Conn, cam: Camera) -> Camera:
    store.upsert_camera(db, cam)
    return cam


def finished_events(db: Conn, camera_id: str) -> list[dict[str, Any]]:
    return [e for e in store.list_events(db, camera_id) if e["end_ts"] is not None]


def clip_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def test_live_event_reaches_database_disk_and_mqtt(
    db: Conn, pool: ConnectionPool, publisher: CameraPublisher, collector: MqttCollector, tmp_path: Path
) -> None:
    live = LiveServer(Scene(crossings=((2.0, 4.0),)), fps=10).start()
    cam = add(db, camera(unique("mare"), url=live.url, event_config=SHORT_EVENTS))
    cfg = settings(tmp_path)
    try:
        with running(CameraWorker(cam, WorkerDeps(cfg, pool, publisher, allow_private=True))):
            events = wait_for(lambda: finished_events(db, cam.id), timeout=20)
    finally:
        live.stop()
    event = events[0]
    assert event["status"] == "new" and event["part"] == 1 and event["clip_path"]
    assert event["peak_score"] > 0 and event["boxes"], event
    box = event["boxes"][0]
    assert 0 <= box["x"] <= 1 and 0 < box["w"] <= 1 and box["t"] >= 0
    clip = cfg.media_dir / event["clip_path"]
    assert clip.parts[-5:-1] == (cam.id, *f"{event['start_ts']:%Y %m %d}".split())
    # The clip covers the event, pre-roll included: it starts before the first motion box.
    seconds = clip_seconds(clip)
    span = (event["end_ts"] - event["clip_start_ts"]).total_seconds()
    assert seconds == pytest.approx(span, abs=0.35)
    # start_ts already includes the pre-roll; the clip starts with the first frame after it.
    assert abs((event["clip_start_ts"] - event["start_ts"]).total_seconds()) < 0.25
    first_box_ts = event["clip_start_ts"].timestamp() + min(b["t"] for b in event["boxes"])
    assert first_box_ts - event["clip_start_ts"].timestamp() >= 0.7  # ~1 s of pre-roll
    assert (cfg.media_dir / event["snapshot_path"]).stat().st_size > 0
    assert (cfg.media_dir / event["thumbnail_path"]).stat().st_size > 0

    def new_then_end() -> list[dict[str, Any]]:
        msgs = collector.of(f"/{cam.id}/events")
        return msgs if [m["type"] for m in msgs][:2] == ["new", "end"] else []

    new, end = wait_for(new_then_end)[:2]
    assert new["event"]["id"] == event["id"] and new["camera"] == cam.id
    assert end["event"]["id"] == event["id"] and end["event"]["clip"] == event["clip_path"]
    assert "online" in collector.states(cam.id)
    health = store.get_health(db, cam.id)
    assert health is not None and health["frames_in"] > 20 and health["width"] == 320
    assert health["state"] == "stopped"


def test_reconnect_publishes_lost_then_found_and_resumes(
    db: Conn, pool: ConnectionPool, publisher: CameraPublisher, collector: MqttCollector, tmp_path: Path
) -> None:
    live = LiveServer(Scene(), fps=10).start()
    cam = add(db, camera(unique("haie"), url=live.url))
    worker = CameraWorker(cam, WorkerDeps(settings(tmp_path), pool, publisher, allow_private=True))
    with running(worker):
        wait_for(lambda: collector.states(cam.id)[-1:] == ["online"], timeout=10)
        live.stop()  # the camera loses power mid-stream
        wait_for(lambda: collector.states(cam.id)[-1:] == ["lost"], timeout=10)
        frames_when_lost = worker.counters.frames_in
        live.start()  # same port
        wait_for(lambda: collector.states(cam.id)[-1:] == ["online"], timeout=15)
        wait_for(lambda: worker.counters.frames_in > frames_when_lost + 10, timeout=10)
    try:
        states = [s for s in collector.states(cam.id) if s not in ("starting", "stopped")]
        assert states[:3] == ["online", "lost", "online"], states
        lost = next(m for m in collector.of(f"/{cam.id}/status") if m["state"] == "lost")
        assert lost["error"], "a lost status says why"
        assert worker.counters.reconnects >= 1
        health = store.get_health(db, cam.id)
        assert health is not None and health["reconnects"] >= 1
    finally:
        live.stop()


def test_graceful_stop_finishes_the_clip_in_progress(db: Conn, pool: ConnectionPool, tmp_path: Path) -> None:
    live = LiveServer(Scene(crossings=((1.0, 60.0),)), fps=10).start()
    cam = add(db, camera(unique("bois"), url=live.url, event_config=SHORT_EVENTS))
    cfg = settings(tmp_path)
    try:
        with running(CameraWorker(cam, WorkerDeps(cfg, pool, allow_private=True))):
            wait_for(lambda: store.list_events(db, cam.id), timeout=15)
            wait_for(lambda: live.frames_sent > 40, timeout=10)
    finally:
        live.stop()
    (event,) = store.list_events(db, cam.id)
    assert event["end_ts"] is not None and event["clip_path"]
    assert clip_seconds(cfg.media_dir / event["clip_path"]) > 1.0
    assert not list(cfg.media_dir.rglob(".*.part"))


def moving_square(t: float, w: int = 320, h: int = 240) -> np.ndarray:
    img = np.full((h, w, 3), 90, np.uint8)
    img[::16, :] = 60  # some texture
    # A path that wanders over the frame, so no pixel changes all the time (which the detectors
    # learn as flicker, like leaves).
    x = int((t * 60) % (w - 50))
    y = int(20 + (t * 37) % (h - 90))
    img[y : y + 50, x : x + 50] = 240
    return img


def test_long_activity_is_split_into_linked_parts_with_injected_time(
    db: Conn, pool: ConnectionPool, tmp_path: Path
) -> None:
    cam = add(db, camera(unique("gue"), event_config=SHORT_EVENTS))
    cfg = settings(tmp_path)
    worker = CameraWorker(cam, WorkerDeps(cfg, pool, allow_private=True))
    assert worker.prepare()
    t0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC).timestamp()
    still = np.full((240, 320, 3), 90, np.uint8)
    still[::16, :] = 60
    for i in range(300):  # 30 s at 10 fps; motion from 3 s to 25 s
        t = i / 10
        worker.process_frame(Frame(moving_square(t) if 3 <= t < 25 else still, t0 + t))
    worker.finish()
    events = store.list_events(db, cam.id)
    assert [e["part"] for e in events] == [1, 2, 3]
    assert events[1]["previous_event_id"] == events[0]["id"]
    assert events[2]["previous_event_id"] == events[1]["id"]
    for e in events:
        assert e["end_ts"] is not None and e["clip_path"]
        length = clip_seconds(cfg.media_dir / e["clip_path"])
        assert length <= SHORT_EVENTS["max_clip_s"] + 0.5
    # The first part starts with the 1 s pre-roll.
    assert events[0]["clip_start_ts"].timestamp() == pytest.approx(t0 + 2.0, abs=0.5)
    assert events[0]["start_ts"].timestamp() < t0 + 3.5
    assert events[-1]["end_ts"].timestamp() == pytest.approx(t0 + 26.0, abs=0.6)


def test_queue_drops_oldest_and_counts_when_behind(tmp_path: Path) -> None:
    worker = CameraWorker(camera(unique("lent")), WorkerDeps(settings(tmp_path, queue_size=3)))
    img = np.zeros((8, 8, 3), np.uint8)
    for i in range(10):
        worker.enqueue(Frame(img, float(i)), live=True)
    assert worker.counters.frames_dropped == 7 and worker.counters.frames_in == 10
    kept = [worker._queue.get_nowait().ts for _ in range(3)]
    assert kept == [7.0, 8.0, 9.0]


def test_disk_nearly_full_keeps_the_event_without_clip(
    db: Conn, pool: ConnectionPool, publisher: CameraPublisher, collector: MqttCollector, tmp_path: Path
) -> None:
    cam = add(db, camera(unique("plein"), event_config=SHORT_EVENTS))
    cfg = settings(tmp_path, min_free_bytes=1 << 62)
    worker = CameraWorker(cam, WorkerDeps(cfg, pool, publisher, allow_private=True))
    assert worker.prepare()
    t0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC).timestamp()
    for i in range(80):
        t = i / 10
        worker.process_frame(Frame(moving_square(t) if 2 <= t < 4 else moving_square(0), t0 + t))
    worker.finish()
    (event,) = store.list_events(db, cam.id)
    assert event["clip_path"] is None and "disque presque plein" in event["media_error"]
    assert worker.disk_state == "full"
    wait_for(lambda: any(m["disk"] == "full" for m in collector.of(f"/{cam.id}/status")))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_snapshot_camera_is_polled(db: Conn, pool: ConnectionPool, tmp_path: Path) -> None:
    live = LiveServer(Scene()).start()
    cam = add(
        db,
        camera(unique("piege"), url=live.snapshot_url, source_kind="snapshot", snapshot_interval_s=0.2),
    )
    worker = CameraWorker(cam, WorkerDeps(settings(tmp_path), pool, allow_private=True))
    try:
        with running(worker):
            wait_for(lambda: worker.counters.frames_in >= 4 and worker.state == "online", timeout=10)
    finally:
        live.stop()
    row = store.get_health(db, cam.id)
    assert row is not None and row["frames_in"] >= 4 and row["state"] == "stopped"


def test_pre_roll_ring_stays_under_its_byte_cap(tmp_path: Path) -> None:
    worker = CameraWorker(camera(unique("ram")), WorkerDeps(settings(tmp_path, ring_max_bytes=1024**2)))
    assert worker.prepare()
    rng = np.random.default_rng(1)
    for i in range(60):
        noisy = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)  # incompressible: ~60 kB JPEG
        worker.process_frame(Frame(noisy, 1000.0 + i / 10))
    ring = worker._ring
    assert worker._ring_bytes == sum(len(b.jpeg) for b in ring)
    assert worker._ring_bytes <= 1024**2 and len(ring) < 60
    assert ring[-1].ts == pytest.approx(1005.9)


def test_supervisor_follows_the_cameras_table(db: Conn, pool: ConnectionPool, tmp_path: Path) -> None:
    from camera.cli import Supervisor

    live = LiveServer(Scene(), fps=10).start()
    cfg = settings(tmp_path)
    supervisor = Supervisor(pool, lambda: WorkerDeps(cfg, pool, allow_private=True))
    first = add(db, camera(unique("s1"), url=live.url))
    try:
        supervisor.sync()
        assert set(supervisor.running) == {first.id}
        worker = supervisor.running[first.id].worker
        wait_for(lambda: worker.state == "online", timeout=10)
        second = add(db, camera(unique("s2"), url=live.url))
        store.upsert_camera(db, camera(first.id, url=live.url, enabled=False))
        supervisor.sync()
        assert set(supervisor.running) == {second.id}
        assert worker.finished.is_set() and worker.state == "stopped"
        # A changed configuration restarts the camera's worker with it.
        store.upsert_camera(db, camera(second.id, url=live.url, event_config=SHORT_EVENTS))
        old = supervisor.running[second.id].worker
        supervisor.sync()
        assert supervisor.running[second.id].worker is not old
        assert supervisor.running[second.id].camera.event_config == SHORT_EVENTS
    finally:
        supervisor.stop()
        supervisor.run()  # returns at once: stop is set, every worker is stopped and joined
        live.stop()
    assert supervisor.running == {}


def test_tiny_or_odd_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    worker = CameraWorker(camera(unique("mini")), WorkerDeps(settings(tmp_path), allow_private=True))
    assert worker.prepare()
    for i, shape in enumerate([(1, 1, 3), (4000, 2, 3), (240, 320, 3)]):
        worker.process_frame(Frame(np.zeros(shape, np.uint8), 1000.0 + i))
    assert worker.counters.frames_failed == 2 and worker.counters.frames_processed == 1
    assert worker.size == (320, 240)


def test_the_current_view_is_written_downscaled_at_a_bounded_rate(tmp_path: Path) -> None:
    """The admin page's picture: the latest frame, at most every view_interval_s, at most
    960 px on its longer side, replaced whole; no worker clock, no database needed."""
    now = [100.0]
    cfg = settings(tmp_path, view_interval_s=5.0)
    worker = CameraWorker(camera(unique("vue")), WorkerDeps(cfg, monotonic=lambda: now[0]))
    assert worker.prepare()
    view = view_path(cfg.media_dir, worker.camera.id)
    frame = np.full((1080, 1920, 3), 40, np.uint8)
    worker.process_frame(Frame(frame, 1.0))
    first = view.read_bytes()
    picture = cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    assert picture.shape == (540, 960, 3) and int(picture.mean()) == pytest.approx(40, abs=2)
    # 4 s later a brighter frame: too soon, the view stays.
    now[0] += 4.0
    worker.process_frame(Frame(np.full((1080, 1920, 3), 200, np.uint8), 5.0))
    assert view.read_bytes() == first
    # 6 s after the first: rewritten, with the new frame; no temporary file left beside it.
    now[0] += 2.0
    worker.process_frame(Frame(np.full((1080, 1920, 3), 200, np.uint8), 7.0))
    again = cv2.imdecode(np.frombuffer(view.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert again is not None
    assert int(again.mean()) == pytest.approx(200, abs=2)
    assert sorted(p.name for p in view.parent.iterdir()) == ["current.jpg"]


def test_no_current_view_below_the_free_space_floor(tmp_path: Path) -> None:
    cfg = settings(tmp_path, min_free_bytes=1 << 62, view_interval_s=0.2)
    worker = CameraWorker(camera(unique("vue-pleine")), WorkerDeps(cfg))
    assert worker.prepare()
    worker.process_frame(Frame(np.zeros((240, 320, 3), np.uint8), 1.0))
    assert not view_path(cfg.media_dir, worker.camera.id).exists()
