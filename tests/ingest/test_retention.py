"""Retention drops raw chunks past the configured age and keeps the rollups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from ingest.retention import apply_retention
from tests.factories import make_station


def test_old_raw_chunks_dropped_rollups_kept(
    service_db_url: Callable[[str], str], db: psycopg.Connection[tuple[object, ...]]
) -> None:
    database_url = service_db_url("ingest")  # the retention job runs as ingest's login
    st = make_station(db).id
    now = datetime.now(UTC)
    for age_days in (30, 20, 1):
        ts = now - timedelta(days=age_days)
        db.execute(
            "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, received_at)"
            " VALUES (%s, %s, 300, 1, 0.2, %s)",
            (st, ts, ts),
        )
        db.execute("INSERT INTO rain_1h VALUES (%s, date_trunc('hour', %s::timestamptz), 0.2, 1)", (st, ts))
    db.execute(
        "INSERT INTO dead_letters (received_at, topic, payload, payload_size, reason)"
        " VALUES (now() - interval '100 days', 't', '', 0, 'malformed_json'),"
        " (now(), 't', '', 0, 'malformed_json')"
    )
    dropped = apply_retention(database_url, raw_days=10, dead_letter_days=90)
    assert dropped == 2
    assert db.execute("SELECT count(*) FROM rain_readings").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM rain_1h").fetchone() == (3,)
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone() == (1,)
    assert apply_retention(database_url, raw_days=10, dead_letter_days=90) == 0
