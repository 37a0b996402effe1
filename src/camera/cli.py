"""`vigie camera`: run the worker for every configured camera, scan a file, manage cameras."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from psycopg_pool import ConnectionPool

from camera import store
from camera.config import CameraConfigError, load_event_config, load_motion_config
from camera.errors import CameraInputError
from camera.mqtt_events import CameraPublisher
from camera.retention import RetentionJob, apply_retention, schedule_retention
from camera.scan import scan_command
from camera.store import Camera
from camera.worker import CameraWorker, WorkerDeps
from vigie.db import APP_CAMERA, connect, make_pool, wait_until_ready
from vigie.errors import VigieError
from vigie.heartbeat import HeartbeatReporter
from vigie.jobs import make_scheduler
from vigie.listen import ListenLoop
from vigie.logs import setup_logging_from
from vigie.migrate import ensure_current
from vigie.mqtt import service_address
from vigie.notify import CAMERA_CONFIG
from vigie.service_secrets import for_service
from vigie.settings import CameraSettings, Settings

log = logging.getLogger(__name__)

app = typer.Typer(help="Caméras faune : détection de mouvement, clips, rétention.", no_args_is_help=True)

# Columns a config-file entry may set directly (besides id, url, kind, motion, events).
_FILE_FIELDS = {
    "name",
    "snapshot_interval_s",
    "location_name",
    "lat",
    "lon",
    "coordinate_uncertainty_m",
    "habitat",
    "feature_type",
    "camera_model",
    "camera_height_m",
    "deployment_start",
    "deployment_end",
    "retention_days",
    "enabled",
    "favourite",
}


def check_camera(cam: Camera) -> Camera:
    """Validate the row and its motion/event configs; raise a VigieError naming the camera."""
    store.validate_camera(cam)
    load_motion_config(cam.motion_config, cam.id)
    load_event_config(cam.event_config, cam.id)
    return cam


def camera_from_mapping(entry: dict[str, Any]) -> Camera:
    """One [[cameras]] entry of the TOML config file as a validated Camera."""
    if not isinstance(entry, dict):
        raise CameraInputError("chaque entrée [[cameras]] doit être une table")
    cam_id = str(entry.get("id", "?"))
    unknown = set(entry) - _FILE_FIELDS - {"id", "url", "kind", "motion", "events"}
    if unknown:
        raise CameraInputError(f"caméra {cam_id} : clés inconnues {sorted(unknown)}")
    url = entry.get("url")
    if not isinstance(url, str):
        raise CameraInputError(f"caméra {cam_id} : 'url' manquante")
    fields = {k: v for k, v in entry.items() if k in _FILE_FIELDS}
    for key in ("deployment_start", "deployment_end"):
        value = fields.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            fields[key] = value.replace(tzinfo=UTC)
    motion, events = entry.get("motion", {}), entry.get("events", {})
    if not isinstance(motion, dict) or not isinstance(events, dict):
        raise CameraInputError(f"caméra {cam_id} : 'motion' et 'events' doivent être des tables")
    try:
        cam = Camera(
            id=cam_id,
            name=str(fields.pop("name", cam_id)),
            source_url=url,
            source_kind=str(entry.get("kind") or store.guess_kind(url)),
            motion_config=motion,
            event_config=events,
            **fields,
        )
    except TypeError as exc:
        raise CameraInputError(f"caméra {cam_id} : {exc}") from exc
    return check_camera(cam)


def load_config_file(path: Path) -> tuple[list[Camera], list[str]]:
    """Cameras of a TOML file, and one error message per entry that was refused."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CameraInputError(f"fichier de caméras {path} illisible : {exc}") from exc
    entries = data.get("cameras", [])
    if not isinstance(entries, list):
        raise CameraInputError(f"{path} : 'cameras' doit être une liste [[cameras]]")
    cameras: list[Camera] = []
    errors: list[str] = []
    for entry in entries:
        try:
            cameras.append(camera_from_mapping(entry))
        except VigieError as exc:
            errors.append(str(exc))
    return cameras, errors


@dataclass
class _Running:
    camera: Camera
    worker: CameraWorker
    thread: threading.Thread


def _without_masks(cam: Camera) -> Camera:
    rest = {k: v for k, v in cam.motion_config.items() if k != "masks"}
    return dataclasses.replace(cam, motion_config=rest)


class Supervisor:
    """Runs one worker per enabled camera and follows the cameras table: every reload_s, and at
    once when the API NOTIFYs vigie_camera_config (with `listen`, a connection factory).

    A camera whose masks alone changed keeps its worker, which applies them without restarting;
    any other change restarts that camera's worker.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        make_deps: Callable[[], WorkerDeps],
        *,
        reload_s: float = 30.0,
        listen: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self.pool = pool
        self.make_deps = make_deps
        self.reload_s = reload_s
        self.listen = listen
        self.stop_event = threading.Event()
        self.running: dict[str, _Running] = {}

    def _start(self, cam: Camera) -> None:
        worker = CameraWorker(cam, self.make_deps())
        thread = threading.Thread(target=worker.run, name=f"camera-{cam.id}", daemon=True)
        self.running[cam.id] = _Running(cam, worker, thread)
        thread.start()

    def _stop(self, cam_id: str) -> None:
        entry = self.running.pop(cam_id)
        entry.worker.stop()
        entry.thread.join(timeout=60)

    def sync(self) -> None:
        """Start new or changed cameras, stop removed or disabled ones, hand new masks over."""
        with self.pool.connection() as conn:
            wanted = {c.id: c for c in store.list_cameras(conn, enabled_only=True)}
        for cam_id in list(self.running):
            entry, new = self.running[cam_id], wanted.get(cam_id)
            if new == entry.camera:
                continue
            # A worker that stopped on its config (invalid masks) is started again instead.
            alive = entry.thread.is_alive()
            if new is not None and alive and _without_masks(new) == _without_masks(entry.camera):
                log.info("caméra %s : nouveaux masques, appliqués sans redémarrage", cam_id)
                entry.worker.set_masks(new.motion_config)
                entry.camera = new
                continue
            log.info("caméra %s : configuration changée ou retirée, arrêt", cam_id)
            self._stop(cam_id)
        for cam_id, cam in wanted.items():
            if cam_id not in self.running:
                self._start(cam)
        if not wanted:
            log.warning("aucune caméra active : ajoutez-en avec 'vigie camera add' ou /admin/cameras")

    def _sync_logged(self) -> None:
        try:
            self.sync()
        except VigieError as exc:
            log.error("%s", exc)
        except (OSError, psycopg.Error) as exc:
            log.error("rechargement des caméras impossible : %s", exc)

    # The ListenHandler of the LISTEN loop (vigie.listen): a sync at each (re)connection, at
    # each notification and every reload_s.
    def on_connect(self, conn: psycopg.Connection[Any]) -> None:
        """Catch up on the changes made while nobody listened."""
        self._sync_logged()

    def timeout_s(self) -> float:
        """Sync at least this often, notification or not."""
        return self.reload_s

    def on_wake(self, conn: psycopg.Connection[Any], payloads: list[str]) -> None:
        """A camera changed (or reload_s passed): follow the table."""
        self._sync_logged()

    def run(self) -> None:
        """Supervise until stop(); then stop every worker (each finishes its clip)."""
        try:
            if self.listen is not None:
                ListenLoop(
                    "camera supervisor", self.listen, [CAMERA_CONFIG], self, stop_event=self.stop_event
                ).run()
            while not self.stop_event.is_set():
                self._sync_logged()
                self.stop_event.wait(self.reload_s)
        finally:
            for entry in self.running.values():
                entry.worker.stop()  # all at once, then wait for each clip to close
            for cam_id in list(self.running):
                self._stop(cam_id)

    def stop(self) -> None:
        """Ask for a graceful stop."""
        self.stop_event.set()


@app.command("run")
def run_cmd(
    config: Annotated[
        Path | None, typer.Option(help="Fichier TOML de caméras à ajouter ou mettre à jour")
    ] = None,
) -> None:
    """Run the worker for every enabled camera until SIGTERM/SIGINT."""
    settings = for_service(Settings(), "camera")
    setup_logging_from(settings)
    # One line per snapshot poll or per retention run is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    cfg = settings.camera
    url = settings.database_url.get_secret_value()
    wait_until_ready(url, application_name=APP_CAMERA)
    ensure_current(url)
    pool = make_pool(url, max_size=4, name=APP_CAMERA)
    pool.open()
    pool.wait()
    config_path = config or cfg.config_file
    if config_path is not None:
        cameras, errors = load_config_file(config_path)
        for message in errors:
            log.error("%s (caméra ignorée)", message)
        with pool.connection() as conn:
            for cam in cameras:
                store.upsert_camera(conn, cam)
        log.info("%d caméra(s) chargée(s) depuis %s", len(cameras), config_path)
    # A URL without a user logs in as `vigie-camera` with the password from the credentials file.
    address = service_address(
        settings.mqtt_url.get_secret_value(),
        "vigie-camera",
        settings.mqtt_credentials_file,
        settings.mqtt_ca_file,
    )
    publisher = CameraPublisher(address, cfg.client_id, settings.topic_root)
    if not publisher.start():
        log.error("broker MQTT indisponible : les événements seront publiés à la reconnexion")
    media_dir = cfg.media_dir.resolve()
    media_dir.mkdir(parents=True, exist_ok=True)
    absolute = replace_media_dir(cfg, media_dir)
    out = settings.outbound
    heartbeats = HeartbeatReporter(url, "camera", report_s=settings.liveness.report_s)
    stall_s = settings.liveness.stall_s
    supervisor = Supervisor(
        pool,
        lambda: WorkerDeps(
            absolute,
            pool,
            publisher,
            allow_private=out.allow_private,
            allowed_networks=out.allowed_networks,
            heartbeats=heartbeats,
            stall_s=stall_s,
        ),
        listen=lambda: connect(url, application_name=APP_CAMERA, autocommit=True),
    )
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop())
    scheduler = make_scheduler()
    schedule_retention(scheduler, RetentionJob(pool, media_dir, cfg.disk_quota_bytes), cfg.retention_check_s)
    scheduler.start()
    heartbeats.start()
    try:
        supervisor.run()
    finally:
        heartbeats.stop()
        scheduler.shutdown(wait=False)
        time.sleep(0.2)  # let paho send the last "stopped" statuses
        publisher.stop()
        pool.close()


def _connect(settings: Settings) -> psycopg.Connection[Any]:
    """One autocommit connection for a one-shot command."""
    return connect(settings.database_url.get_secret_value(), application_name=APP_CAMERA, autocommit=True)


def replace_media_dir(cfg: CameraSettings, media_dir: Path) -> CameraSettings:
    """The camera settings with an absolute media directory (workers may not share a cwd)."""
    return cfg.model_copy(update={"media_dir": media_dir})


@app.command("add")
def add_cmd(
    camera_id: Annotated[str, typer.Argument(help="Identifiant : minuscules, chiffres, '-'")],
    url: Annotated[str, typer.Option(help="rtsp://, http(s):// (MJPEG ou image) ou fichier")],
    name: Annotated[str | None, typer.Option(help="Nom affiché")] = None,
    kind: Annotated[str | None, typer.Option(help="rtsp, mjpeg, snapshot ou file")] = None,
    lat: Annotated[float | None, typer.Option()] = None,
    lon: Annotated[float | None, typer.Option()] = None,
    habitat: Annotated[str | None, typer.Option()] = None,
    detector: Annotated[str, typer.Option(help="frigate_like ou mog2")] = "frigate_like",
    retention_days: Annotated[int, typer.Option()] = 30,
    deployment_start: Annotated[datetime | None, typer.Option(help="Début du déploiement (UTC)")] = None,
) -> None:
    """Add or update one camera in the database."""
    settings = for_service(Settings(), "camera")
    setup_logging_from(settings)
    start = deployment_start
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    cam = Camera(
        id=camera_id,
        name=name or camera_id,
        source_url=url,
        source_kind=kind or store.guess_kind(url),
        lat=lat,
        lon=lon,
        habitat=habitat,
        motion_config={"detector": detector},
        retention_days=retention_days,
        deployment_start=start,
    )
    try:
        check_camera(cam)
    except (CameraInputError, CameraConfigError) as exc:
        typer.echo(f"refusé : {exc}", err=True)
        raise typer.Exit(2) from exc
    with _connect(settings) as conn:
        store.upsert_camera(conn, cam)
    typer.echo(f"caméra {cam.id} enregistrée ({cam.source_kind}, {cam.safe_url})")


@app.command("list")
def list_cmd() -> None:
    """List cameras (URLs with their passwords hidden)."""
    settings = for_service(Settings(), "camera")
    with _connect(settings) as conn:
        for cam in store.list_cameras(conn):
            state = "active" if cam.enabled else "désactivée"
            typer.echo(f"{cam.id}\t{cam.source_kind}\t{state}\t{cam.safe_url}")


@app.command("retention")
def retention_cmd(
    force: Annotated[
        bool,
        typer.Option(
            help="Supprimer aussi les clips aux observations seulement proposées (jamais favoris ni validés)"
        ),
    ] = False,
) -> None:
    """Apply clip retention once (days per camera, then the disk quota)."""
    settings = for_service(Settings(), "camera")
    setup_logging_from(settings)
    with _connect(settings) as conn:
        result = apply_retention(
            conn,
            settings.camera.media_dir.resolve(),
            quota_bytes=settings.camera.disk_quota_bytes,
            now=datetime.now(UTC),
            force=force,
        )
    typer.echo(
        f"{result.deleted_by_age} expiré(s), {result.deleted_by_quota} pour le quota, "
        f"{result.freed_bytes // 1024**2} Mio libérés, {result.kept_protected} protégé(s) gardé(s)"
    )


# `scan` belongs to the detection side (camera.scan); it is registered here, beside `run`.
app.command("scan")(scan_command)
