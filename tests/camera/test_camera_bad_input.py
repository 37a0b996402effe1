"""Bad input, one class per test: each broken camera says why, and the others carry on."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from camera import store
from camera.cli import Supervisor, camera_from_mapping, load_config_file
from camera.config import CameraConfigError
from camera.errors import CameraInputError
from camera.mqtt_events import CameraPublisher
from camera.worker import WorkerDeps
from tests.camera.factories import MqttCollector, camera, unique
from tests.camera.live_server import LiveServer, Scene, SilentServer
from tests.support import Broker, DbLogins, wait_for
from vigie.mqtt import parse_mqtt_url
from vigie.settings import CameraSettings

Conn = psycopg.Connection[tuple[object, ...]]
SHORT_EVENTS = {"pre_roll_s": 1.0, "post_roll_s": 1.0, "gap_s": 1.0, "max_clip_s": 10.0}
BAD_MASK = {"masks": [{"points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]}  # crosses itself


def ended(db: Conn, cam_id: str) -> list[dict[str, Any]]:
    return [e for e in store.list_events(db, cam_id) if e["end_ts"] is not None]


def health(db: Conn, cam_id: str) -> dict[str, Any]:
    row = store.get_health(db, cam_id)
    return row or {}


def test_broken_cameras_fail_alone_while_a_good_one_records(
    db: Conn, pool: ConnectionPool, broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="camera")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(20_000))
    good_server = LiveServer(Scene(crossings=((2.0, 4.0),)), fps=10).start()
    resizing = LiveServer(Scene(crossings=((2.0, 4.0),), resize_at=1.0), fps=10).start()
    silent = SilentServer()
    cams = {
        "good": camera(unique("bon"), url=good_server.url, event_config=SHORT_EVENTS),
        "corrupt": camera(unique("corrompu"), url=str(corrupt), source_kind="file"),
        "silent": camera(unique("muet"), url=silent.url.replace("http://", "http://u:secretpw@")),
        "mask": camera(unique("masque"), url=good_server.url, motion_config=BAD_MASK),
        "resize": camera(unique("taille"), url=resizing.url, event_config=SHORT_EVENTS),
    }
    for cam in cams.values():
        store.upsert_camera(db, cam)
    publisher = CameraPublisher(parse_mqtt_url(broker.url("vigie-camera")), unique("t"))
    assert publisher.start()
    collector = MqttCollector(broker.url("vigie-api"))
    cfg = CameraSettings(
        media_dir=tmp_path / "media",
        min_free_bytes=0,
        watchdog_s=1.0,
        backoff_max_s=1.0,
        health_interval_s=0.5,
    )
    supervisor = Supervisor(pool, lambda: WorkerDeps(cfg, pool, publisher, allow_private=True), reload_s=60)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: ended(db, cams["good"].id) and ended(db, cams["resize"].id), timeout=25)
        wait_for(lambda: health(db, cams["silent"].id).get("last_error"), timeout=10)
    finally:
        supervisor.stop()
        thread.join(timeout=30)
        good_server.stop()
        resizing.stop()
        silent.stop()
        collector.close()
        publisher.stop()
    assert not thread.is_alive()

    # The good camera recorded its event with a clip.
    (event,) = ended(db, cams["good"].id)
    assert event["clip_path"] and (cfg.media_dir / event["clip_path"]).exists()

    # Invalid mask: refused with a reason naming the camera; state "error".
    mask = health(db, cams["mask"].id)
    assert mask["state"] == "error" and "masque" in mask["last_error"]
    assert cams["mask"].id in mask["last_error"]

    # Corrupt video file: a clear error, no retry loop, state "error".
    bad = health(db, cams["corrupt"].id)
    assert bad["state"] == "error"
    assert "illisible" in bad["last_error"] or "impossible" in bad["last_error"], bad
    assert bad["reconnects"] == 0

    # A URL that never answers: a timeout, reconnect attempts, and the password never shows.
    muted = health(db, cams["silent"].id)
    assert "aucune donnée" in muted["last_error"] and "secretpw" not in muted["last_error"]
    lost = [m for m in collector.of(f"/{cams['silent'].id}/status") if m["state"] == "lost"]
    assert lost, "the silent camera is reported lost"
    assert "secretpw" not in caplog.text
    assert "secretpw" not in json.dumps(collector.messages)
    assert any("aucune donnée" in (m["error"] or "") for m in lost)

    # A stream that changes resolution: a clear log line, the detector restarts, events go on.
    assert "résolution changée de 320x240 à 480x360" in caplog.text
    assert health(db, cams["resize"].id)["width"] == 480
    (resized_event,) = ended(db, cams["resize"].id)
    assert resized_event["clip_path"]


def test_config_file_keeps_good_cameras_and_names_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "cameras.toml"
    path.write_text(
        """
[[cameras]]
id = "etang-nord"
url = "rtsp://admin:pw@10.0.0.2/live"
lat = 49.5
lon = 2.9
habitat = "roselière"
deployment_start = 2026-04-01T08:00:00
[cameras.motion]
detector = "mog2"
[cameras.events]
pre_roll_s = 3

[[cameras]]
id = "masque-faux"
url = "http://cam/stream"
[cameras.motion]
masks = [{points = [[0.0, 0.0], [1.5, 0.0], [0.5, 0.5]]}]

[[cameras]]
id = "cle-inconnue"
url = "http://cam/stream"
colour = "red"

[[cameras]]
id = "sans-url"

[[cameras]]
id = "Mauvais ID"
url = "http://cam/stream"
""",
        encoding="utf-8",
    )
    cameras, errors = load_config_file(path)
    assert [c.id for c in cameras] == ["etang-nord"]
    cam = cameras[0]
    assert cam.source_kind == "rtsp" and cam.deployment_start is not None
    assert cam.deployment_start.tzinfo is not None
    assert len(errors) == 4
    assert "masque-faux" in errors[0] and "masque" in errors[0]
    assert "clés inconnues" in errors[1]
    assert "url" in errors[2]
    assert "identifiant" in errors[3]


@pytest.mark.parametrize(
    "content", ["[[cameras]\nid=", "cameras = 3", "\xff\xfe garbage".encode("latin-1").decode("latin-1")]
)
def test_unreadable_config_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cameras.toml"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(CameraInputError, match="cameras"):
        load_config_file(path)


def test_invalid_motion_config_is_refused_before_storage() -> None:
    with pytest.raises(CameraConfigError, match="masque"):
        camera_from_mapping({"id": "cam-x", "url": "http://c/s", "motion": BAD_MASK})
    with pytest.raises(CameraConfigError, match="détecteur inconnu"):
        camera_from_mapping({"id": "cam-x", "url": "http://c/s", "motion": {"detector": "magic"}})
    with pytest.raises(CameraInputError):
        camera_from_mapping({"id": "cam-x", "url": "http://c/s", "lat": 123.0})


def test_vigie_camera_run_records_events_and_stops_gracefully(
    database_url: str, db_logins: DbLogins, broker: Broker, tmp_path: Path
) -> None:
    # Stream time starts with the server, not with the worker: on a loaded machine the worker
    # process may connect several seconds late, so crossings repeat until one is caught.
    live = LiveServer(Scene(crossings=tuple((t, t + 2.0) for t in range(3, 60, 8))), fps=10).start()
    config = tmp_path / "cameras.toml"
    good, bad = unique("proc-bon"), unique("proc-masque")
    config.write_text(
        f"""
[[cameras]]
id = "{good}"
url = "{live.url}"
[cameras.events]
pre_roll_s = 1.0
post_roll_s = 1.0
gap_s = 1.0

[[cameras]]
id = "{bad}"
url = "{live.url}"
[cameras.motion]
masks = [{{points = [[0.0, 0.0], [0.1, 0.1]]}}]
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "VIGIE_DATABASE_URL": database_url,
        # As `make demo` does: the worker's own database login and broker account, with their
        # passwords from the credentials files (no user in the broker URL).
        "VIGIE_DATABASE_CREDENTIALS_FILE": str(db_logins.credentials_file),
        "VIGIE_DATABASE_LOGIN_PREFIX": db_logins.prefix,
        "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "VIGIE_MQTT_CREDENTIALS_FILE": str(broker.directory / "credentials.env"),
        "VIGIE_CAMERA__MEDIA_DIR": str(tmp_path / "media"),
        "VIGIE_CAMERA__MIN_FREE_BYTES": "0",
        "VIGIE_CAMERA__CLIENT_ID": unique("vigie-camera"),
        "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",  # the simulated webcam listens on loopback
        "PYTHONUNBUFFERED": "1",
    }
    collector = MqttCollector(broker.url("vigie-api"))
    log_path = tmp_path / "camera.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigie.cli", "camera", "run", "--config", str(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with psycopg.connect(database_url, autocommit=True) as db:
            wait_for(
                lambda: [e for e in store.list_events(db, good) if e["end_ts"] is not None],
                timeout=30,
            )
        wait_for(lambda: [m for m in collector.of(f"/{good}/events") if m["type"] == "end"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        wait_for(lambda: collector.states(good)[-1:] == ["stopped"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        live.stop()
        collector.close()
    text = log_path.read_text(errors="replace")
    assert bad in text and "masque" in text and "caméra ignorée" in text
    assert list((tmp_path / "media" / good).rglob("*.mp4"))


def test_add_and_list_commands(database_url: str, db_logins: DbLogins) -> None:
    from typer.testing import CliRunner

    from camera.cli import app

    runner = CliRunner()
    env = {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_DATABASE_CREDENTIALS_FILE": str(db_logins.credentials_file),
        "VIGIE_DATABASE_LOGIN_PREFIX": db_logins.prefix,
    }
    ok = runner.invoke(
        app, ["add", "haie-sud", "--url", "rtsp://admin:pw123@10.0.0.9/s", "--lat", "49.5"], env=env
    )
    assert ok.exit_code == 0, ok.output
    listed = runner.invoke(app, ["list"], env=env)
    assert "haie-sud\trtsp" in listed.output and "pw123" not in listed.output
    for args, reason in [
        (["add", "Haie Sud", "--url", "http://c/s"], "identifiant"),
        (["add", "haie-est", "--url", "http://c/s", "--detector", "magic"], "détecteur inconnu"),
        (["add", "haie-est", "--url", "http://c/s", "--lat", "95"], "latitude"),
    ]:
        refused = runner.invoke(app, args, env=env)
        assert refused.exit_code == 2 and reason in refused.output, refused.output
