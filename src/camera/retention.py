"""Clip retention: by days per camera, then by a total disk quota, oldest clips first.

Favourites and events with a validated observation are never deleted, not even with `force`:
they are what the naturalists chose to keep, and what a second naturalist confirmed. Events with
observations that are only proposed (or rejected) are kept too, unless `force` is given.
Files are deleted before their row, so a crash in between leaves
a row whose files are gone (deleted again, harmlessly, on the next run), never an orphan file
that no row accounts for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from camera import store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionResult:
    """What one pass deleted and what it had to keep."""

    deleted_by_age: int
    deleted_by_quota: int
    freed_bytes: int
    kept_protected: int
    total_bytes_after: int


def _remove_files(media_dir: Path, clip: store.StoredClip) -> None:
    root = media_dir.resolve()
    for rel in clip.paths:
        path = (root / rel).resolve()
        if not path.is_relative_to(root):
            # A path outside the media directory is never ours to delete.
            log.error("chemin hors du dossier média ignoré : %s", rel)
            continue
        path.unlink(missing_ok=True)
        # Tidy the now-empty day/month/year directories, never above the camera's folder.
        parent = path.parent
        while parent != root and parent.parent != root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def apply_retention(
    conn: store.Conn,
    media_dir: Path,
    *,
    quota_bytes: int,
    now: datetime,
    force: bool = False,
) -> RetentionResult:
    """Delete expired clips, then the oldest ones while the total exceeds quota_bytes."""
    clips = store.clips_oldest_first(conn)
    days = store.retention_days_by_camera(conn)
    doomed: list[store.StoredClip] = []
    kept: list[store.StoredClip] = []
    protected_expired = 0
    for clip in clips:
        limit = now - timedelta(days=days.get(clip.camera_id, 30))
        if clip.start_ts < limit:
            if clip.untouchable or (clip.protected and not force):
                protected_expired += 1
                kept.append(clip)
            else:
                doomed.append(clip)
        else:
            kept.append(clip)
    by_age = len(doomed)
    total = sum(c.media_bytes for c in kept)
    protected_over_quota = 0
    survivors: list[store.StoredClip] = []
    for clip in kept:  # oldest first
        if total > quota_bytes and not clip.untouchable and (force or not clip.protected):
            doomed.append(clip)
            total -= clip.media_bytes
        else:
            if total > quota_bytes and (clip.protected or clip.untouchable):
                protected_over_quota += 1
            survivors.append(clip)
    freed = 0
    for clip in doomed:
        _remove_files(media_dir, clip)
        store.forget_event_files(conn, clip.event_id)
        freed += clip.media_bytes
    if total > quota_bytes:
        log.warning(
            "quota média dépassé (%d Mio > %d Mio) :"
            " il ne reste que des clips favoris, validés ou avec observations",
            total // 1024**2,
            quota_bytes // 1024**2,
        )
    result = RetentionResult(
        deleted_by_age=by_age,
        deleted_by_quota=len(doomed) - by_age,
        freed_bytes=freed,
        kept_protected=protected_expired + protected_over_quota,
        total_bytes_after=sum(c.media_bytes for c in survivors),
    )
    if doomed:
        log.info(
            "rétention : %d clip(s) expirés et %d pour le quota supprimés, %d Mio libérés",
            result.deleted_by_age,
            result.deleted_by_quota,
            freed // 1024**2,
        )
    return result


class RetentionJob:
    """The scheduled job: logs once when it starts failing and once when it recovers."""

    def __init__(
        self,
        pool: ConnectionPool,
        media_dir: Path,
        quota_bytes: int,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.media_dir = media_dir
        self.quota_bytes = quota_bytes
        self.clock = clock
        self.failing = False
        self.last_result: RetentionResult | None = None

    def __call__(self) -> None:
        """One retention pass; never raises into the scheduler."""
        try:
            with self.pool.connection() as conn:
                self.last_result = apply_retention(
                    conn, self.media_dir, quota_bytes=self.quota_bytes, now=self.clock()
                )
        except (psycopg.Error, OSError) as exc:
            if not self.failing:
                log.error("rétention des clips en échec : %s", exc)
                self.failing = True
            return
        if self.failing:
            log.info("rétention des clips rétablie")
            self.failing = False


def schedule_retention(scheduler: Any, job: RetentionJob, interval_s: int) -> None:
    """Run the job now and then every interval_s (one at a time, missed runs coalesced)."""
    scheduler.add_job(
        job,
        "interval",
        seconds=interval_s,
        id="camera-retention",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )
