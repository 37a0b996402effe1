"""bench-review's data: 20 cameras, 100,000 events with real clip files and 300,000
observations, in a database kept between runs (as bench-api's `vigie_bench_api`).

Rows go in with COPY. Each camera gets one deployment over the whole period, its own handful of
species (drawn from the shipped list, a few common and many rare, as a camera trap sees them),
and doubtful events on half the cameras only, so that "a doubtful event of a camera that has
none" and "a species a camera never saw" are real questions with empty answers.

Clips: 20 real MP4 files (one per camera, written with OpenCV), and each event's clip is a hard
link to its camera's file under the layout the worker uses (<camera>/<YYYY>/<MM>/<DD>/<key>.mp4):
100,000 real paths the API opens, without 100,000 encodings. The media directory is kept beside
the database (outside the checkout); the database's comment records what it holds, so a later
run finds both complete and skips the load.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
from psycopg import sql

from bench import api_data
from vigie import species
from vigie.migrate import migrate

ADMIN_URL = os.environ.get("VIGIE_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
DB_NAME = "vigie_bench_review"
MEDIA_DIR = Path(os.environ.get("VIGIE_BENCH_REVIEW_MEDIA", "/var/tmp/vigie-bench-review/media"))
# Bump when the generated data changes shape, so a kept database of the old shape is reloaded.
DATA_VERSION = 1
CAMERAS = 20
EVENTS = 100_000
OBSERVATIONS_PER_EVENT = 3
DAYS = 365


@dataclass(frozen=True)
class Dataset:
    """What the bench database holds."""

    url: str
    media_dir: Path
    cameras: list[str]
    start: datetime
    end: datetime
    events: int
    observations: int
    # camera -> the species it saw (most common first); cameras with doubtful events.
    camera_species: dict[str, list[str]]
    doubtful_cameras: list[str]
    loaded_now: bool
    load_s: float | None


def db_url(name: str = DB_NAME) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def camera_ids() -> list[str]:
    return [f"banc-revue-{i:02d}" for i in range(CAMERAS)]


def write_clip(
    path: Path, seed: int, frames: int = 50, fps: float = 10.0, size: tuple[int, int] = (320, 240)
) -> int:
    """A small real MP4 (5 s, a bright patch crossing a textured background); its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    background = rng.integers(20, 90, (size[1], size[0], 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV ne peut pas écrire {path}")
    for i in range(frames):
        frame = background.copy()
        x = (i * 6) % (size[0] - 40)
        frame[90:130, x : x + 40] = (30, 160, 220)
        writer.write(frame)
    writer.release()
    return path.stat().st_size


def _species_plan(rng: random.Random, cameras: list[str]) -> dict[str, list[str]]:
    """Each camera's species, 8 to 16 of the list's animals, in its own order of commonness."""
    animals = [
        t.scientific_name
        for t in species.load()
        if t.rank == "species" and t.scientific_name != "Homo sapiens"
    ]
    return {cam: rng.sample(animals, rng.randint(8, 16)) for cam in cameras}


def _zipf_pick(rng: random.Random, names: list[str]) -> str:
    weights = [1.0 / (k + 1) ** 1.2 for k in range(len(names))]
    return rng.choices(names, weights)[0]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        os.link(src, dst)


def _load(url: str, media_dir: Path, start: datetime, user_id: int, reviewer_id: int) -> dict[str, Any]:
    rng = random.Random(11)
    cameras = camera_ids()
    plan = _species_plan(rng, cameras)
    doubtful = cameras[: CAMERAS // 2]
    sources = {}
    for i, cam in enumerate(cameras):
        src = media_dir / "_sources" / f"{cam}.mp4"
        if not src.exists():
            write_clip(src, seed=i)
        sources[cam] = (src, src.stat().st_size)
    per_camera = EVENTS // CAMERAS
    span_s = DAYS * 86400
    events: list[tuple[Any, ...]] = []
    observations: list[tuple[Any, ...]] = []
    reviews: list[tuple[int, int]] = []
    event_id = 0
    vernacular = {t.scientific_name: t.vernacular_name for t in species.load()}
    logins = {user_id: "bench-admin", reviewer_id: "banc-naturaliste"}
    started = time.monotonic()
    for cam in cameras:
        offsets = sorted(rng.uniform(0, span_s) for _ in range(per_camera))
        for n, off in enumerate(offsets):
            event_id += 1
            ts = start + timedelta(seconds=off)
            duration = rng.uniform(4, 60)
            key = f"{ts:%Y%m%dT%H%M%S%f}Z-{n}"
            rel = f"{cam}/{ts:%Y/%m/%d}/{key}.mp4"
            _link(sources[cam][0], media_dir / rel)
            is_doubtful = cam in doubtful and rng.random() < 0.08
            roll = rng.random()
            status = "false_positive" if roll < 0.08 else ("reviewed" if roll < 0.5 else "new")
            events.append(
                (
                    event_id, cam, key, ts, ts + timedelta(seconds=duration), ts - timedelta(seconds=2),
                    round(rng.uniform(0.005, 0.2), 4), ts + timedelta(seconds=duration / 2),
                    json.dumps([{"t": 2.0, "x": 0.2, "y": 0.35, "w": 0.15, "h": 0.2}]),
                    rel, sources[cam][1], status, rng.random() < 0.02,
                    0.25 if is_doubtful else 1.0, "light_change" if is_doubtful else None,
                )
            )  # fmt: skip
            if status == "reviewed" and rng.random() < 0.6:
                reviews.append((event_id, user_id))
            main = _zipf_pick(rng, plan[cam])
            other = _zipf_pick(rng, plan[cam])
            validated = rng.random() < 0.4
            for k, (name, obs_status, by) in enumerate(
                (
                    (main, "validated" if validated else "proposed", reviewer_id),
                    (main, "proposed", user_id),
                    (other, "rejected" if rng.random() < 0.3 else "proposed", user_id),
                )
            ):
                judge = (user_id if by == reviewer_id else reviewer_id) if obs_status != "proposed" else None
                observations.append(
                    (
                        name, vernacular.get(name), event_id, rng.randint(1, 3), k * 1.0, k * 1.0 + 2.0, by,
                        logins[by], ts + timedelta(days=1), obs_status, judge,
                        logins[judge] if judge is not None else None,
                    )
                )  # fmt: skip
        print(f"\r[bench-review] events made: {event_id:,}/{EVENTS:,}  ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with psycopg.connect(url) as conn:
        with conn.cursor().copy("COPY cameras (id, name, source_url, source_kind) FROM STDIN") as cp:
            for cam in cameras:
                cp.write_row((cam, f"Caméra de banc {cam[-2:]}", "rtsp://192.0.2.1/banc", "rtsp"))
        with conn.cursor().copy(
            "COPY deployments (camera_id, location_name, lat, lon, habitat, feature_type, start_ts,"
            " created_by) FROM STDIN"
        ) as cp:
            for i, cam in enumerate(cameras):
                cp.write_row(
                    (cam, f"Point de banc {i}", 49.40 + i * 0.01, 2.80 + i * 0.01, "forêt alluviale",
                     "trailGame", start - timedelta(days=1), "bench-admin")
                )  # fmt: skip
        with conn.cursor().copy(
            "COPY camera_events (id, camera_id, event_key, start_ts, end_ts, clip_start_ts, peak_score,"
            " peak_ts, boxes, clip_path, media_bytes, status, favourite, confidence, doubt_guard) FROM STDIN"
        ) as cp:
            for row in events:
                cp.write_row(row)
        conn.execute("SELECT setval('camera_events_id_seq', %s)", (event_id,))
        with conn.cursor().copy(
            "COPY observations (scientific_name, vernacular_name, event_id, count, event_start_s,"
            " event_end_s, classified_by_id, classified_by, classification_ts, status, validated_by_id,"
            " validated_by) FROM STDIN"
        ) as cp:
            for row in observations:
                cp.write_row(row)
        conn.execute("UPDATE camera_events SET has_observations = true")
        with conn.cursor().copy("COPY event_reviews (event_id, user_id) FROM STDIN") as cp:
            for row in reviews:
                cp.write_row(row)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"[bench-review] loaded in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return {"camera_species": plan, "doubtful_cameras": doubtful, "observations": len(observations)}


def _user_id(url: str, login: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM users WHERE login = %s", (login,)).fetchone()
    if row is None:
        raise RuntimeError(f"utilisateur de banc absent : {login}")
    return int(row[0])


def ensure(make_users: Any, reload: bool = False) -> Dataset:
    """The bench database, loaded now unless a complete one of the same shape is there already.

    make_users(url) creates the bench's accounts (through the real CLI) in a fresh database."""
    url = db_url()
    cameras = camera_ids()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        marker = api_data._marker(admin, DB_NAME, DATA_VERSION)
        kept = marker is not None and not reload and Path(marker["media_dir"], marker["probe"]).exists()
        if kept and marker is not None:
            print(f"[bench-review] kept {DB_NAME} and media {marker['media_dir']}, no load", file=sys.stderr)
            migrate(url)  # new migrations of the branch under test, if any
            return Dataset(
                url, Path(marker["media_dir"]), cameras, datetime.fromisoformat(marker["start"]),
                datetime.fromisoformat(marker["end"]), marker["events"], marker["observations"],
                marker["camera_species"], marker["doubtful_cameras"], loaded_now=False, load_s=None,
            )  # fmt: skip
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    migrate(url)
    make_users(url)
    started = time.monotonic()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    if MEDIA_DIR.exists():  # an earlier load's links, which no row names any more
        shutil.rmtree(MEDIA_DIR)
    MEDIA_DIR.mkdir(parents=True)
    media_dir = MEDIA_DIR / f"v{DATA_VERSION}-{int(time.time())}"
    info = _load(url, media_dir, start, _user_id(url, "bench-admin"), _user_id(url, "banc-naturaliste"))
    load_s = time.monotonic() - started
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT clip_path FROM camera_events ORDER BY id DESC LIMIT 1").fetchone()
    marker = {
        "version": DATA_VERSION,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "events": EVENTS,
        "observations": info["observations"],
        "media_dir": str(media_dir),
        "probe": row[0] if row else "",
        "camera_species": info["camera_species"],
        "doubtful_cameras": info["doubtful_cameras"],
        "load_s": round(load_s),
    }
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(DB_NAME), sql.Literal(json.dumps(marker))
            )
        )
    return Dataset(
        url, media_dir, cameras, start, end, EVENTS, info["observations"], info["camera_species"],
        info["doubtful_cameras"], loaded_now=True, load_s=load_s,
    )  # fmt: skip
