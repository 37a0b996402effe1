"""Restore drill: back up a running system (ingest storing readings, an incident with its
deliveries, camera clips, the broker's config), restore it into a fresh database and media
directory, and check that every row and every file came back."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from camera.store import EventFiles, finish_event, insert_event, upsert_camera
from tests.alerts.notify_helpers import (
    add_subscriber,
    dispatching,
    now_utc,
    rain_and_evaluate,
    sinks,
    wait_settled,
)
from tests.alerts.rain import only_rules
from tests.camera.factories import camera
from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, create_database, db_url, drop_database, running, wait_for

Conn = psycopg.Connection[Any]
PG_ROOT = Path(os.environ.get("VIGIE_PG_ROOT", "/var/lib/vigie/trixie"))


def _digests(url: str) -> dict[str, str]:
    """An order-independent digest of every table's full content."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        for t in tables:
            q = sql.SQL("SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                        " FROM {} x").format(sql.Identifier(t))
            row = conn.execute(q).fetchone()
            assert row is not None
            out[t] = f"{row[0]}:{row[1]}"
    return out


def _vigie(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigie.cli", *args], env={**os.environ, **env},
        capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.fixture
def target_db() -> Any:
    name = create_database()
    yield db_url(name)
    drop_database(name)


def test_restore_drill(
    db: Conn,
    database_url: str,
    broker: Broker,
    make_ingest: Callable[..., Service],
    tmp_path: Path,
    target_db: str,
) -> None:
    # Readings, through the real broker and ingest.
    make_station(db, "thourotte-mairie", commune="60636")
    device_url = broker.add_device("thourotte-mairie")
    media = tmp_path / "media"
    with running(make_ingest(), ready="subscribed to"):
        with publisher(device_url) as pub:
            pub.publish_many([(topic("thourotte-mairie"), reading(i, minute(i))) for i in range(1, 121)])
        wait_for(lambda: db.execute("SELECT count(*) FROM rain_readings").fetchone() == (120,), timeout=30)

        # An incident and its deliveries, through the real engine and notifier.
        only_rules(db, "Cumul 1 h%")
        with sinks() as (_smtp, sms):
            add_subscriber(db, "Mairie", [{"kind": "sms", "url": sms.apprise_url("+33611111111")}])
            with dispatching(database_url):
                rain_and_evaluate(db, "thourotte-mairie", 18.0, now_utc())
                wait_settled(db)

        # Clips and snapshots on disk, with their event rows.
        upsert_camera(db, camera("etang-nord"))
        for n in range(3):
            clip = media / "etang-nord" / f"2026-12-01/evt-{n}.mp4"
            clip.parent.mkdir(parents=True, exist_ok=True)
            clip.write_bytes(os.urandom(50_000 + n))
            (clip.with_suffix(".jpg")).write_bytes(os.urandom(4_000))
            event = insert_event(db, "etang-nord", f"k{n}", 1_764_590_000.0 + 60 * n)
            finish_event(
                db, event, end_ts=1_764_590_030.0 + 60 * n, peak_score=0.5, peak_ts=None, boxes=[],
                files=EventFiles(clip_path=str(clip.relative_to(media)),
                                 snapshot_path=str(clip.with_suffix(".jpg").relative_to(media)),
                                 media_bytes=54_000),
            )

        # The backup, taken while ingest runs (and reports its heartbeats).
        wait_for(lambda: db.execute("SELECT count(*) FROM service_heartbeats").fetchone() != (0,), timeout=15)
        env = {"VIGIE_DATABASE_URL": database_url, "VIGIE_BACKUP__PG_ROOT": str(PG_ROOT)}
        done = _vigie(env, "backup", str(tmp_path / "bk"), "--media-dir", str(media),
                      "--broker-dir", str(broker.directory))
        assert done.returncode == 0, done.stderr
        assert "pg_dump" in done.stdout
    before = _digests(database_url)
    assert int(before["rain_readings"].split(":")[0]) == 121  # 120 over MQTT, 1 by the storm
    assert int(before["deliveries"].split(":")[0]) >= 1
    assert int(before["camera_events"].split(":")[0]) == 3

    media2, broker2 = tmp_path / "media2", tmp_path / "broker2"
    env2 = {"VIGIE_DATABASE_URL": target_db, "VIGIE_BACKUP__PG_ROOT": str(PG_ROOT)}
    done = _vigie(env2, "restore", str(tmp_path / "bk"), "--media-dir", str(media2),
                  "--broker-dir", str(broker2))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fichiers vérifiés" in done.stdout

    assert _digests(target_db) == before
    with psycopg.connect(target_db) as restored:
        # Heartbeats are runtime state: restored, they would show dead processes as stalled.
        assert restored.execute("SELECT count(*) FROM service_heartbeats").fetchone() == (0,)
    originals = sorted(p.relative_to(media) for p in media.rglob("*") if p.is_file())
    assert sorted(p.relative_to(media2) for p in media2.rglob("*") if p.is_file()) == originals
    for rel in originals:
        assert (media2 / rel).read_bytes() == (media / rel).read_bytes()
    assert (broker2 / "acl").read_text() == (broker.directory / "acl").read_text()
    assert (broker2 / "passwd").exists()
    # The restored database is a working TimescaleDB: the hypertables are hypertables again.
    with psycopg.connect(target_db) as conn:
        hyper = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()
        assert hyper is not None and int(hyper[0]) >= 3


def test_restore_refuses_a_damaged_backup_and_a_non_empty_database(
    db: Conn, database_url: str, tmp_path: Path, target_db: str
) -> None:
    make_station(db, "pimprez-ecole", commune="60492")
    env = {"VIGIE_DATABASE_URL": database_url, "VIGIE_BACKUP__PG_ROOT": str(PG_ROOT)}
    assert _vigie(env, "backup", str(tmp_path / "bk")).returncode == 0
    # Into the source itself: not empty.
    refused = _vigie(env, "restore", str(tmp_path / "bk"))
    assert refused.returncode != 0 and "pas vide" in refused.stderr
    # A flipped byte in the dump: refused before anything is written.
    dump = tmp_path / "bk" / "database.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    env2 = {"VIGIE_DATABASE_URL": target_db, "VIGIE_BACKUP__PG_ROOT": str(PG_ROOT)}
    damaged = _vigie(env2, "restore", str(tmp_path / "bk"))
    assert damaged.returncode != 0 and "ne correspond pas au manifeste" in damaged.stderr
    with psycopg.connect(target_db) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'public'").fetchone() == (0,)
    # And an existing directory is never overwritten by a backup.
    again = _vigie(env, "backup", str(tmp_path / "bk"))
    assert again.returncode != 0 and "existe déjà" in again.stderr
