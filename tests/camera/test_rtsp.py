"""RTSP cameras against a real RTSP server: GStreamer's gst-rtsp-server, RTSP over TCP.

The server (tests/camera/rtsp_server.py, run by the system Python) streams an H.264 MP4 clip
rendered here with PyAV from the same synthetic Scene as the MJPEG server: a textured background
and, in the crossing clip, a bright square crossing the view during a known window. Every
connection starts at the beginning of the clip, so stream time 0 is the moment a client connects.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import av
import numpy as np
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from camera import store
from camera.errors import SourceError
from camera.mqtt_events import CameraPublisher
from camera.sources import AvSource, Frame, SourceOptions
from camera.worker import CameraWorker, WorkerDeps
from tests.camera.factories import MqttCollector, camera, unique
from tests.camera.live_server import Scene
from tests.camera.rtsp_server import RtspServer, RtspServerError
from tests.camera.test_clips import imread, top_level_atoms
from tests.camera.test_worker import SHORT_EVENTS, add, clip_seconds, finished_events, running, settings
from tests.support import wait_for

Conn = psycopg.Connection[tuple[object, ...]]

# Each test stays well under this; the whole module runs in about 35 s.
pytestmark = pytest.mark.timeout(60)

FPS = 10
CLIP_S = 60  # longer than any test: the server does not loop
CROSSING = (3.0, 5.0)  # stream seconds in which the square crosses the crossing clip
# FFmpeg reads ~20 frames (2 s at 10 fps) to probe an RTSP stream before av.open() returns, so
# the first frame comes 2-3 s after connecting: the watchdog must wait longer than that.
RTSP_WATCHDOG_S = 5.0
# The RTSP server listens on loopback: allowed explicitly (vigie.outbound).
OPTIONS = SourceOptions(timeout_s=5.0, allow_private=True)


def render_clip(path: Path, scene: Scene, seconds: float, fps: int = FPS) -> Path:
    """Write scene as an H.264 MP4, as an IP camera encodes it (no B-frames, 1 s GOP)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264", rate=fps, options={"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        )
        stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(scene.render(i / fps), format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def quiet_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_clip(tmp_path_factory.mktemp("rtsp") / "quiet.mp4", Scene(), CLIP_S)


@pytest.fixture(scope="module")
def crossing_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_clip(tmp_path_factory.mktemp("rtsp") / "crossing.mp4", Scene(crossings=(CROSSING,)), CLIP_S)


def test_a_server_that_cannot_start_fails_the_test_clearly(quiet_clip: Path) -> None:
    with RtspServer(quiet_clip) as server:
        started = time.monotonic()
        with pytest.raises(RtspServerError, match=re.escape(f"cannot listen on 127.0.0.1:{server.port}")):
            RtspServer(quiet_clip, port=server.port).start()  # the port is taken
        # A Python without GStreamer's bindings (the venv's) names the Debian packages to install.
        with pytest.raises(RtspServerError, match=re.escape("gir1.2-gst-rtsp-server-1.0")):
            RtspServer(quiet_clip, python=sys.executable).start()
        assert time.monotonic() - started < 10, "a failed start is reported at once, not at the timeout"
        assert server.running


def test_av_source_reads_rtsp_and_keeps_the_stream_timestamps(quiet_clip: Path) -> None:
    got: list[tuple[Frame, float]] = []
    with RtspServer(quiet_clip) as server:
        source = AvSource(server.url, OPTIONS)
        connected = time.time()
        try:
            for frame in source.frames():
                got.append((frame, time.time()))
                if len(got) == 40:
                    break
        finally:
            source.close()
    assert [f.image.shape for f, _ in got] == [(240, 320, 3)] * 40
    # The picture is the clip's (H.264 is lossy: close, not equal).
    assert np.abs(got[-1][0].image.astype(int) - Scene().render(0).astype(int)).mean() < 8
    ts = np.array([f.ts for f, _ in got])
    arrived = np.array([a for _, a in got])
    # The stream's own spacing, exactly 10 fps, although FFmpeg hands over the first ~2 s of
    # frames in one burst after probing the stream: these are not arrival times.
    assert np.allclose(np.diff(ts), 1 / FPS, atol=0.005), np.diff(ts)
    # Anchored on our clock at connection: no frame is stamped before we connected or after it
    # reached us, and once the probing burst is over frames are stamped about when they arrive.
    assert ts[0] >= connected - 0.05
    assert np.all(ts <= arrived + 0.1), (ts - arrived).max()
    assert arrived[-1] - ts[-1] < 1.5


def test_closing_from_another_thread_ends_the_reader_cleanly(quiet_clip: Path) -> None:
    # The worker's stop() and watchdog close the source from another thread than the capture
    # thread, which is then waiting inside FFmpeg for the next packet. Closing the container
    # under it freed the demuxer in use: the whole process died of a segmentation fault.
    got: list[Frame] = []
    errors: list[SourceError] = []
    with RtspServer(quiet_clip) as server:
        source = AvSource(server.url, OPTIONS)

        def read() -> None:
            try:
                got.extend(source.frames())
            except SourceError as exc:
                errors.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        wait_for(lambda: len(got) >= 32, timeout=15)  # past the probing burst: frames come live
        asked = time.monotonic()
        source.close()
        reader.join(timeout=OPTIONS.timeout_s + 2)
        assert not reader.is_alive(), "the reader ends after the read in progress"
        # Frames come every 0.1 s: the reader stops at the next one, not at the read timeout.
        assert time.monotonic() - asked < 2.0
        stopped_at = len(got)
        time.sleep(0.3)
    assert errors == [] and len(got) == stopped_at, (errors, stopped_at, len(got))


def test_rtsp_camera_records_an_event_to_database_disk_and_mqtt(
    db: Conn,
    pool: ConnectionPool,
    publisher: CameraPublisher,
    collector: MqttCollector,
    crossing_clip: Path,
    tmp_path: Path,
) -> None:
    cfg = settings(tmp_path, watchdog_s=RTSP_WATCHDOG_S)
    with RtspServer(crossing_clip) as server:
        cam = add(
            db, camera(unique("rtsp-mare"), url=server.url, source_kind="rtsp", event_config=SHORT_EVENTS)
        )
        started = time.time()
        with running(CameraWorker(cam, WorkerDeps(cfg, pool, publisher, allow_private=True))):
            events = wait_for(lambda: finished_events(db, cam.id), timeout=25)
    assert len(store.list_events(db, cam.id)) == 1, "one crossing, one event"
    event = events[0]
    assert event["status"] == "new" and event["part"] == 1 and event["clip_path"], event
    assert event["peak_score"] > 0 and event["boxes"], event
    # The event sits where the crossing is in the stream (3-5 s after connecting), give or take
    # the 1 s pre-roll and post-roll: the worker runs on the stream's own timeline.
    start = event["start_ts"].timestamp() - started
    end = event["end_ts"].timestamp() - started
    assert 1.5 <= start <= 3.5 and 5.0 <= end <= 8.0, (start, end)

    clip = cfg.media_dir / event["clip_path"]
    seconds = clip_seconds(clip)  # H.264, with a duration
    span = (event["end_ts"] - event["clip_start_ts"]).total_seconds()
    assert seconds == pytest.approx(span, abs=0.35)
    assert top_level_atoms(clip).index(b"moov") < top_level_atoms(clip).index(b"mdat")
    with av.open(str(clip)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded >= 0.9 * span * FPS, (decoded, span)  # every streamed frame reached the clip
    first_box = min(b["t"] for b in event["boxes"])
    assert first_box >= 0.7, "the clip starts with ~1 s of pre-roll"
    # The snapshot is the frame with the most motion: the bright square is in it.
    snapshot = imread(cfg.media_dir / event["snapshot_path"])
    assert int((snapshot > 200).all(axis=2).sum()) > 1000
    assert (cfg.media_dir / event["thumbnail_path"]).stat().st_size > 0

    def new_then_end() -> list[dict[str, Any]]:
        msgs = collector.of(f"/{cam.id}/events")
        return msgs if [m["type"] for m in msgs][:2] == ["new", "end"] else []

    new, end_msg = wait_for(new_then_end)[:2]
    assert new["event"]["id"] == event["id"] and new["camera"] == cam.id
    assert end_msg["event"]["id"] == event["id"] and end_msg["event"]["clip"] == event["clip_path"]
    assert "online" in collector.states(cam.id)
    health = store.get_health(db, cam.id)
    assert health is not None and health["frames_in"] > 40 and health["width"] == 320
    assert health["frames_dropped"] == 0 and health["state"] == "stopped"


def test_rtsp_reconnect_publishes_lost_then_found_and_resumes(
    db: Conn,
    pool: ConnectionPool,
    publisher: CameraPublisher,
    collector: MqttCollector,
    quiet_clip: Path,
    tmp_path: Path,
) -> None:
    with RtspServer(quiet_clip) as server:
        cam = add(db, camera(unique("rtsp-haie"), url=server.url, source_kind="rtsp"))
        cfg = settings(tmp_path, watchdog_s=RTSP_WATCHDOG_S)
        worker = CameraWorker(cam, WorkerDeps(cfg, pool, publisher, allow_private=True))
        with running(worker):
            wait_for(lambda: collector.states(cam.id)[-1:] == ["online"], timeout=15)
            port = server.port
            server.stop()  # the camera loses power mid-stream
            wait_for(lambda: collector.states(cam.id)[-1:] == ["lost"], timeout=15)
            frames_when_lost = worker.counters.frames_in
            server.start()
            assert server.port == port and server.starts == 2
            wait_for(lambda: collector.states(cam.id)[-1:] == ["online"], timeout=20)
            wait_for(lambda: worker.counters.frames_in > frames_when_lost + 10, timeout=10)
            # Frame times after the reconnection are anchored anew, never ahead of our clock.
            last = worker.counters.last_frame_ts
            assert last is not None
            assert last <= time.time() + 0.1, f"last frame dated {last - time.time():.2f} s ahead"
    states = [s for s in collector.states(cam.id) if s not in ("starting", "stopped")]
    assert states[:3] == ["online", "lost", "online"], states
    lost = next(m for m in collector.of(f"/{cam.id}/status") if m["state"] == "lost")
    assert lost["error"] and server.url in lost["error"], "a lost status says why"
    assert worker.counters.reconnects >= 1
    health = store.get_health(db, cam.id)
    assert health is not None and health["reconnects"] >= 1


def test_rtsp_basic_auth_works_and_the_password_never_shows(
    db: Conn,
    pool: ConnectionPool,
    publisher: CameraPublisher,
    collector: MqttCollector,
    quiet_clip: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    user, password, wrong = "garde", f"Pw{uuid.uuid4().hex[:10]}", f"Bad{uuid.uuid4().hex[:10]}"
    cfg = settings(tmp_path, watchdog_s=RTSP_WATCHDOG_S)
    with RtspServer(quiet_clip, user=user, password=password) as server:
        # The server really checks: no credentials, or wrong ones, are refused.
        for url in (server.url, server.url_with(user, wrong)):
            with pytest.raises(SourceError, match="401") as refused:
                next(AvSource(url, OPTIONS).frames())
            # Nor in its traceback: FFmpeg's own error, which names the URL in full, is not
            # chained to it (logging prints the whole chain when it reports a failing handler).
            assert wrong not in "".join(traceback.format_exception(refused.value))
        good = add(db, camera(unique("rtsp-auth"), url=server.url_with(user, password), source_kind="rtsp"))
        bad = add(db, camera(unique("rtsp-refus"), url=server.url_with(user, wrong), source_kind="rtsp"))
        ok_worker = CameraWorker(good, WorkerDeps(cfg, pool, publisher, allow_private=True))
        bad_worker = CameraWorker(bad, WorkerDeps(cfg, pool, publisher, allow_private=True))
        with running(ok_worker), running(bad_worker):
            wait_for(lambda: ok_worker.state == "online" and ok_worker.counters.frames_in >= 10, timeout=15)
            bad_lost = wait_for(
                lambda: [m for m in collector.of(f"/{bad.id}/status") if m["state"] == "lost" and m["error"]],
                timeout=15,
            )
            health_payloads = [ok_worker.health().as_json(), bad_worker.health().as_json()]
    # The refused camera says why, with its URL redacted rather than left out.
    assert "401" in bad_lost[0]["error"] and f"rtsp://{user}:***@" in bad_lost[0]["error"]
    assert ok_worker.counters.frames_in >= 10 and bad_worker.counters.frames_in == 0
    rows = [store.get_health(db, good.id), store.get_health(db, bad.id)]
    assert rows[1] is not None and "401" in rows[1]["last_error"]
    assert f"démarrage (rtsp://{user}:***@" in caplog.text  # the URL is logged, redacted
    out, err = capfd.readouterr()
    published = json.dumps(collector.messages)
    for secret in (password, wrong):
        assert secret not in caplog.text
        assert secret not in out + err
        assert secret not in published
        assert secret not in json.dumps(rows, default=str)
        assert secret not in json.dumps(health_payloads)
