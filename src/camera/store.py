"""All camera SQL: cameras, camera_events and camera_health (migration 200_camera.sql)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from camera.errors import CameraInputError
from vigie.camera_urls import SOURCE_KINDS, StreamUrlRefused, check_stream_url
from vigie.camera_urls import guess_kind as guess_kind  # the CLI's, kept here beside the rows
from vigie.errors import NotFoundError
from vigie.logs import redact

Conn = psycopg.Connection[Any]

CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
EVENT_STATUSES = ("new", "reviewed", "false_positive")

_CAMERA_COLUMNS = (
    "id",
    "name",
    "source_url",
    "source_kind",
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
    "motion_config",
    "event_config",
    "retention_days",
    "enabled",
    "favourite",
)


@dataclass(frozen=True)
class Camera:
    """One camera row; `source_url` is a secret and stays out of repr()."""

    id: str
    name: str
    source_url: str = field(repr=False)
    source_kind: str
    snapshot_interval_s: float = 2.0
    location_name: str | None = None
    lat: float | None = None
    lon: float | None = None
    coordinate_uncertainty_m: int | None = None
    habitat: str | None = None
    feature_type: str | None = None
    camera_model: str | None = None
    camera_height_m: float | None = None
    deployment_start: datetime | None = None
    deployment_end: datetime | None = None
    motion_config: dict[str, Any] = field(default_factory=dict)
    event_config: dict[str, Any] = field(default_factory=dict)
    retention_days: int = 30
    enabled: bool = True
    favourite: bool = False

    @property
    def safe_url(self) -> str:
        """The source URL with any password replaced by ***, for logs and answers."""
        return redact(self.source_url)


def validate_camera(cam: Camera) -> None:
    """Raise CameraInputError with a French message when a camera row would be refused."""
    if not CAMERA_ID.match(cam.id) or cam.id.startswith("vigie-"):
        raise CameraInputError(
            f"identifiant de caméra invalide {cam.id!r} : minuscules, chiffres et '-', 2 à 63"
        )
    if cam.source_kind not in SOURCE_KINDS:
        raise CameraInputError(f"type de source inconnu {cam.source_kind!r}")
    try:
        # What is written only: hosts are checked against the site's settings at each connection.
        check_stream_url(cam.source_kind, cam.source_url, allow_private=True, resolve_names=False)
    except StreamUrlRefused as exc:
        raise CameraInputError(f"URL de la source refusée : {exc}") from None
    if cam.lat is not None and not -90 <= cam.lat <= 90:
        raise CameraInputError(f"latitude hors limites : {cam.lat}")
    if cam.lon is not None and not -180 <= cam.lon <= 180:
        raise CameraInputError(f"longitude hors limites : {cam.lon}")
    if (
        cam.deployment_start is not None
        and cam.deployment_end is not None
        and cam.deployment_end <= cam.deployment_start
    ):
        raise CameraInputError("la fin du déploiement doit suivre son début")
    if not 1 <= cam.retention_days <= 36500:
        raise CameraInputError(f"durée de conservation invalide : {cam.retention_days} jours")


def upsert_camera(conn: Conn, cam: Camera) -> None:
    """Insert a camera or update every column of an existing one."""
    validate_camera(cam)
    values = [getattr(cam, c) for c in _CAMERA_COLUMNS]
    values = [Jsonb(v) if isinstance(v, dict) else v for v in values]
    cols = ", ".join(_CAMERA_COLUMNS)
    marks = ", ".join(["%s"] * len(_CAMERA_COLUMNS))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _CAMERA_COLUMNS if c != "id")
    conn.execute(
        f"INSERT INTO cameras ({cols}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}",  # noqa: S608
        values,
    )


def _camera(row: dict[str, Any]) -> Camera:
    return Camera(**{c: row[c] for c in _CAMERA_COLUMNS})


def list_cameras(conn: Conn, *, enabled_only: bool = False) -> list[Camera]:
    """Every camera (or only enabled ones), by id."""
    cols = ", ".join(_CAMERA_COLUMNS)
    where = " WHERE enabled" if enabled_only else ""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {cols} FROM cameras{where} ORDER BY id").fetchall()  # noqa: S608
    return [_camera(r) for r in rows]


def get_camera(conn: Conn, camera_id: str) -> Camera:
    """One camera, or NotFoundError."""
    cols = ", ".join(_CAMERA_COLUMNS)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {cols} FROM cameras WHERE id = %s", (camera_id,)).fetchone()  # noqa: S608
    if row is None:
        raise NotFoundError(f"caméra inconnue : {camera_id}")
    return _camera(row)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def insert_event(
    conn: Conn,
    camera_id: str,
    event_key: str,
    start_ts: float,
    *,
    part: int = 1,
    previous_event_id: int | None = None,
) -> int:
    """Create the row of an event that just started; return its id."""
    row = conn.execute(
        "INSERT INTO camera_events (camera_id, event_key, start_ts, part, previous_event_id)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (camera_id, event_key, _utc(start_ts), part, previous_event_id),
    ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class EventFiles:
    """What the clip writer produced for an event (paths relative to the media directory)."""

    clip_path: str | None = None
    snapshot_path: str | None = None
    thumbnail_path: str | None = None
    media_bytes: int = 0
    media_error: str | None = None


def finish_event(
    conn: Conn,
    event_id: int,
    *,
    end_ts: float,
    peak_score: float,
    peak_ts: float | None,
    boxes: Sequence[dict[str, float]],
    files: EventFiles,
    clip_start_ts: float | None = None,
    confidence: float = 1.0,
    doubt_guard: str | None = None,
) -> None:
    """Record the end of an event: times, peak, boxes, confidence and the files written.

    `confidence` (0..1) and `doubt_guard` say how sure the detector was (migration 210).
    """
    conn.execute(
        "UPDATE camera_events SET end_ts = greatest(%s, start_ts), peak_score = %s, peak_ts = %s,"
        " clip_start_ts = %s, boxes = %s, clip_path = %s, snapshot_path = %s,"
        " thumbnail_path = %s, media_bytes = %s, media_error = %s,"
        " confidence = %s, doubt_guard = %s WHERE id = %s",
        (
            _utc(end_ts),
            max(0.0, peak_score),
            _utc(peak_ts) if peak_ts is not None else None,
            _utc(clip_start_ts) if clip_start_ts is not None else None,
            Jsonb(list(boxes)),
            files.clip_path,
            files.snapshot_path,
            files.thumbnail_path,
            files.media_bytes,
            files.media_error,
            # Clamped: a rounding slip must not lose the event's row to the CHECK.
            min(1.0, max(0.0, confidence)),
            doubt_guard,
            event_id,
        ),
    )


def set_event_status(
    conn: Conn, event_id: int, *, status: str | None = None, favourite: bool | None = None
) -> None:
    """Review an event: status new/reviewed/false_positive and/or favourite."""
    if status is not None and status not in EVENT_STATUSES:
        raise CameraInputError(f"statut inconnu {status!r} : {', '.join(EVENT_STATUSES)}")
    cur = conn.execute(
        "UPDATE camera_events SET status = coalesce(%s, status),"
        " favourite = coalesce(%s, favourite) WHERE id = %s",
        (status, favourite, event_id),
    )
    if cur.rowcount == 0:
        raise NotFoundError(f"événement inconnu : {event_id}")


def list_events(conn: Conn, camera_id: str | None = None) -> list[dict[str, Any]]:
    """Events, oldest first, as dicts (for the CLI and the tests)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM camera_events WHERE %s::text IS NULL OR camera_id = %s ORDER BY start_ts, id",
            (camera_id, camera_id),
        ).fetchall()


@dataclass(frozen=True)
class Health:
    """A camera's health snapshot, written to camera_health and published on MQTT."""

    state: str
    last_frame_ts: float | None = None
    width: int | None = None
    height: int | None = None
    fps_in: float = 0.0
    fps_processed: float = 0.0
    frames_in: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    disk_state: str = "ok"
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The MQTT status payload."""
        return {
            "state": self.state,
            "last_frame": _utc(self.last_frame_ts).isoformat() if self.last_frame_ts else None,
            "width": self.width,
            "height": self.height,
            "fps_in": round(self.fps_in, 2),
            "fps_processed": round(self.fps_processed, 2),
            "frames_in": self.frames_in,
            "frames_dropped": self.frames_dropped,
            "reconnects": self.reconnects,
            "disk": self.disk_state,
            "error": self.last_error,
        }


def upsert_health(conn: Conn, camera_id: str, health: Health) -> None:
    """Replace the camera's health row."""
    last = _utc(health.last_frame_ts) if health.last_frame_ts else None
    conn.execute(
        "INSERT INTO camera_health (camera_id, state, last_frame_at, width, height, fps_in,"
        " fps_processed, frames_in, frames_dropped, reconnects, disk_state, last_error, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
        " ON CONFLICT (camera_id) DO UPDATE SET state = EXCLUDED.state,"
        " last_frame_at = coalesce(EXCLUDED.last_frame_at, camera_health.last_frame_at),"
        " width = EXCLUDED.width, height = EXCLUDED.height, fps_in = EXCLUDED.fps_in,"
        " fps_processed = EXCLUDED.fps_processed, frames_in = EXCLUDED.frames_in,"
        " frames_dropped = EXCLUDED.frames_dropped, reconnects = EXCLUDED.reconnects,"
        " disk_state = EXCLUDED.disk_state, last_error = EXCLUDED.last_error, updated_at = now()",
        (
            camera_id,
            health.state,
            last,
            health.width,
            health.height,
            health.fps_in,
            health.fps_processed,
            health.frames_in,
            health.frames_dropped,
            health.reconnects,
            health.disk_state,
            redact(health.last_error) if health.last_error else None,
        ),
    )


def get_health(conn: Conn, camera_id: str) -> dict[str, Any] | None:
    """The health row of one camera, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM camera_health WHERE camera_id = %s", (camera_id,)).fetchone()


@dataclass(frozen=True)
class StoredClip:
    """An event's files as retention sees them."""

    event_id: int
    camera_id: str
    start_ts: datetime
    media_bytes: int
    paths: tuple[str, ...]
    # Kept unless retention is forced: it has observations (merely proposed ones).
    protected: bool
    # Never deleted, even forced: a favourite, or an event with a validated observation.
    untouchable: bool = False


def clips_oldest_first(conn: Conn) -> list[StoredClip]:
    """Every event that still has files, oldest first, with its protection flags."""
    rows = conn.execute(
        "SELECT e.id, e.camera_id, e.start_ts, e.media_bytes, e.clip_path, e.snapshot_path,"
        " e.thumbnail_path, e.has_observations, e.favourite OR EXISTS (SELECT 1 FROM observations o"
        " WHERE o.event_id = e.id AND o.status = 'validated') FROM camera_events e"
        " WHERE e.clip_path IS NOT NULL OR e.snapshot_path IS NOT NULL ORDER BY e.start_ts, e.id"
    ).fetchall()
    return [
        StoredClip(
            int(r[0]),
            str(r[1]),
            r[2],
            int(r[3]),
            tuple(str(p) for p in (r[4], r[5], r[6]) if p),
            bool(r[7]) or bool(r[8]),
            bool(r[8]),
        )
        for r in rows
    ]


def retention_days_by_camera(conn: Conn) -> dict[str, int]:
    """Each camera's retention in days."""
    return {str(r[0]): int(r[1]) for r in conn.execute("SELECT id, retention_days FROM cameras")}


def forget_event_files(conn: Conn, event_id: int) -> None:
    """Delete the row of an event whose files retention removed."""
    conn.execute("DELETE FROM camera_events WHERE id = %s", (event_id,))


def save_person_proposal(
    conn: Conn,
    event_id: int,
    *,
    proposed: bool,
    score: float,
    boxes: Sequence[dict[str, float]],
    frames: int,
    detector: str,
) -> None:
    """Record (or replace) the people detector's proposal for a closed event (migration 420)."""
    conn.execute(
        "INSERT INTO person_proposals (event_id, proposed, score, boxes, frames, detector)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO UPDATE SET"
        " proposed = EXCLUDED.proposed, score = EXCLUDED.score, boxes = EXCLUDED.boxes,"
        " frames = EXCLUDED.frames, detector = EXCLUDED.detector, proposed_at = now()",
        (event_id, proposed, max(0.0, score), Jsonb(list(boxes)[:200]), frames, detector),
    )


def person_proposal(conn: Conn, event_id: int) -> dict[str, Any] | None:
    """The detector's proposal for an event, or None (for the CLI and the tests)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM person_proposals WHERE event_id = %s", (event_id,)).fetchone()
