"""Retention by days per camera and by total quota, oldest first; favourites and validated
events are kept, even forced."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from camera import store
from camera.retention import RetentionJob, apply_retention
from camera.store import EventFiles
from tests.camera.factories import camera

Conn = psycopg.Connection[tuple[object, ...]]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def add_clip(db: Conn, media: Path, cam: str, age_days: float, size: int = 1000, **flags: bool) -> int:
    start = NOW - timedelta(days=age_days)
    key = f"k{age_days}"
    rel = Path(cam) / f"{start:%Y/%m/%d}" / f"{key}.mp4"
    (media / rel).parent.mkdir(parents=True, exist_ok=True)
    (media / rel).write_bytes(b"x" * size)
    (media / rel).with_suffix(".jpg").write_bytes(b"j")
    eid = store.insert_event(db, cam, key, start.timestamp())
    files = EventFiles(str(rel), str(rel.with_suffix(".jpg")), None, size + 1)
    store.finish_event(
        db, eid, end_ts=start.timestamp() + 10, peak_score=0.1, peak_ts=None, boxes=[], files=files
    )
    if flags.get("favourite"):
        store.set_event_status(db, eid, favourite=True)
    if flags.get("observed"):
        db.execute("UPDATE camera_events SET has_observations = true WHERE id = %s", (eid,))
    return eid


def remaining(db: Conn) -> list[str]:
    return [str(r["event_key"]) for r in store.list_events(db)]


def test_by_days_per_camera_keeps_favourites_and_observations(db: Conn, tmp_path: Path) -> None:
    store.upsert_camera(db, camera("foret", retention_days=7))
    store.upsert_camera(db, camera("marais", retention_days=30))
    add_clip(db, tmp_path, "foret", 10)
    add_clip(db, tmp_path, "foret", 9, favourite=True)
    add_clip(db, tmp_path, "foret", 8, observed=True)
    add_clip(db, tmp_path, "foret", 2)
    add_clip(db, tmp_path, "marais", 10)
    result = apply_retention(db, tmp_path, quota_bytes=10**9, now=NOW)
    assert result.deleted_by_age == 1 and result.kept_protected == 2
    assert remaining(db) == ["k10", "k9", "k8", "k2"]  # marais' k10 is within its 30 days
    assert next(r["camera_id"] for r in store.list_events(db)) == "marais"
    assert not (tmp_path / "foret" / f"{NOW - timedelta(days=10):%Y/%m/%d}").exists()
    assert result.freed_bytes == 1001


def test_by_quota_deletes_oldest_first_and_keeps_favourites(db: Conn, tmp_path: Path) -> None:
    store.upsert_camera(db, camera("foret", retention_days=365))
    for age in (5, 4, 3, 2, 1):
        add_clip(db, tmp_path, "foret", age, favourite=age == 5)
    # 5 clips of 1001 bytes, quota 2500: the oldest (a favourite) stays and still counts, so
    # the next three oldest go.
    result = apply_retention(db, tmp_path, quota_bytes=2500, now=NOW)
    assert remaining(db) == ["k5", "k1"]
    assert result.deleted_by_quota == 3 and result.total_bytes_after == 2002
    files = sorted(p.name for p in tmp_path.rglob("*.mp4"))
    assert files == ["k1.mp4", "k5.mp4"]


def validate(db: Conn, event_id: int, status: str = "validated") -> None:
    db.execute(
        "INSERT INTO observations (event_id, scientific_name, classified_by, status)"
        " VALUES (%s, 'Capreolus capreolus', 'claire', %s)",
        (event_id, status),
    )
    db.execute("UPDATE camera_events SET has_observations = true WHERE id = %s", (event_id,))


def test_force_keeps_favourites_and_validated_but_deletes_proposed(db: Conn, tmp_path: Path) -> None:
    store.upsert_camera(db, camera("foret", retention_days=1))
    add_clip(db, tmp_path, "foret", 5, favourite=True)
    validate(db, add_clip(db, tmp_path, "foret", 4))
    validate(db, add_clip(db, tmp_path, "foret", 3), "proposed")
    validate(db, add_clip(db, tmp_path, "foret", 2.5), "rejected")
    add_clip(db, tmp_path, "foret", 2, observed=True)
    result = apply_retention(db, tmp_path, quota_bytes=10**9, now=NOW, force=True)
    # Forced: only the favourite and the validated event survive; merely proposed, rejected
    # and bare observations go.
    assert remaining(db) == ["k5", "k4"]
    assert result.kept_protected == 2 and result.deleted_by_age == 3
    assert sorted(p.name for p in tmp_path.rglob("*.mp4")) == ["k4.mp4", "k5.mp4"]


def test_validated_events_are_kept_over_quota_even_forced(db: Conn, tmp_path: Path) -> None:
    store.upsert_camera(db, camera("foret", retention_days=365))
    for age in (4, 3, 2, 1):
        eid = add_clip(db, tmp_path, "foret", age)
        if age in (4, 3):
            validate(db, eid)
    result = apply_retention(db, tmp_path, quota_bytes=1500, now=NOW, force=True)
    # Over quota with only validated clips left: they stay, and the quota stays exceeded.
    assert remaining(db) == ["k4", "k3"]
    assert result.deleted_by_quota == 2 and result.total_bytes_after == 2002


def test_retention_runs_with_the_camera_login(pool: ConnectionPool, db: Conn, tmp_path: Path) -> None:
    """The worker's own grants suffice to tell validated events apart (observations' status)."""
    store.upsert_camera(db, camera("foret", retention_days=1))
    validate(db, add_clip(db, tmp_path, "foret", 3))
    add_clip(db, tmp_path, "foret", 2)
    job = RetentionJob(pool, tmp_path, 10**9, clock=lambda: NOW)
    job()
    assert not job.failing
    assert job.last_result is not None and job.last_result.deleted_by_age == 1
    assert remaining(db) == ["k3"]


def test_missing_files_and_hostile_paths_do_not_stop_retention(db: Conn, tmp_path: Path) -> None:
    store.upsert_camera(db, camera("foret", retention_days=1))
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    media = tmp_path / "media"
    media.mkdir()
    eid = store.insert_event(db, "foret", "evil", (NOW - timedelta(days=5)).timestamp())
    files = EventFiles("../outside.txt", "foret/gone.jpg", None, 10)
    store.finish_event(
        db,
        eid,
        end_ts=(NOW - timedelta(days=5)).timestamp(),
        peak_score=0,
        peak_ts=None,
        boxes=[],
        files=files,
    )
    result = apply_retention(db, media, quota_bytes=10**9, now=NOW)
    assert result.deleted_by_age == 1
    assert outside.read_text() == "keep me"


def test_job_logs_once_on_failure_and_once_on_recovery(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="camera.retention")
    pool = ConnectionPool(database_url, min_size=1, max_size=1, open=False)
    pool.open()
    pool.wait()
    try:
        job = RetentionJob(pool, tmp_path, 10**9, clock=lambda: NOW)
        with pool.connection() as conn:
            conn.execute("ALTER TABLE camera_events RENAME TO camera_events_away")
        job()
        job()
        assert job.failing
        with pool.connection() as conn:
            conn.execute("ALTER TABLE camera_events_away RENAME TO camera_events")
        job()
        assert not job.failing and job.last_result is not None
    finally:
        pool.close()
    errors = [r for r in caplog.records if "échec" in r.getMessage()]
    recovered = [r for r in caplog.records if "rétablie" in r.getMessage()]
    assert len(errors) == 1 and len(recovered) == 1
