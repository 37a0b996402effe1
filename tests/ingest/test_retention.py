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


def test_past_raw_chunks_are_rewritten_in_station_order_and_keep_every_row(
    service_db_url: Callable[[str], str], db: psycopg.Connection[tuple[object, ...]]
) -> None:
    from ingest.retention import cluster_past_chunks

    database_url = service_db_url("ingest")  # the job runs as ingest's login, not the owner
    stations = sorted(make_station(db).id for _ in range(3))
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    # As ingest stores them: minute by minute, the stations interleaved.
    for minute in range(60):
        for st in reversed(stations):
            ts = day + timedelta(minutes=minute)
            db.execute(
                "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, received_at)"
                " VALUES (%s, %s, 60, 1, 0.2, %s)",
                (st, ts, ts),
            )
    today = datetime.now(UTC) - timedelta(minutes=5)
    db.execute(
        "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, received_at)"
        " VALUES (%s, %s, 60, 1, 0.2, %s)",
        (stations[0], today, today),
    )

    def stored_order() -> list[tuple[object, ...]]:
        return db.execute(
            "SELECT station_id, ts FROM rain_readings WHERE ts >= %s AND ts < %s ORDER BY ctid",
            (day, day + timedelta(days=1)),
        ).fetchall()

    before = stored_order()
    assert len(before) == 180 and before != sorted(before)
    assert cluster_past_chunks(database_url) == 1  # the past day's chunk; today's is left alone
    after = stored_order()
    assert after == sorted(before)  # every row kept, now station by station
    assert db.execute("SELECT count(*) FROM rain_readings").fetchone() == (181,)
    assert cluster_past_chunks(database_url) == 0  # done once
