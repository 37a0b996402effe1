"""Write rain the way ingest stores it: rain_readings, the 5-min and 1-h rollups, device_status."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.engine import Engine
from vigie.settings import AlertsSettings

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def add_rain(
    conn: psycopg.Connection[Any],
    station: str,
    ts: datetime,
    mm: float,
    *,
    interval_s: int = 300,
    tip_mm: float = 0.2,
    battery_v: float | None = 3.9,
    clock_offset_s: float | None = 0.0,
    tips: int | None = None,
) -> None:
    """One reading ending at ts, with its rollups, as ingest commits it."""
    n_tips = tips if tips is not None else round(mm / tip_mm)
    with conn.transaction():
        cur = conn.execute(
            "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, battery_v,"
            " received_at) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
            (station, ts, interval_s, n_tips, mm, battery_v, ts),
        )
        if cur.rowcount == 0:
            return
        for table, width in (("rain_5min", "5 minutes"), ("rain_1h", "1 hour")):
            conn.execute(
                f"INSERT INTO {table} (station_id, bucket, mm, readings) VALUES"  # noqa: S608
                f" (%s, time_bucket(interval '{width}', %s::timestamptz - interval '1 microsecond'),"
                " %s, 1) ON CONFLICT (station_id, bucket) DO UPDATE SET"
                f" mm = {table}.mm + excluded.mm, readings = {table}.readings + 1",
                (station, ts, mm),
            )
        conn.execute(
            "INSERT INTO device_status (station_id, last_seen, last_ts, battery_v, clock_offset_s,"
            " online) VALUES (%s,%s,%s,%s,%s,true) ON CONFLICT (station_id) DO UPDATE SET"
            " last_seen = greatest(device_status.last_seen, excluded.last_seen),"
            " last_ts = greatest(device_status.last_ts, excluded.last_ts),"
            " battery_v = excluded.battery_v, clock_offset_s = excluded.clock_offset_s",
            (station, ts, ts, battery_v, clock_offset_s),
        )


def storm(start: datetime, per_5min: Iterable[float]) -> list[tuple[datetime, float]]:
    """(ts, mm) pairs, one per 5 minutes from start."""
    return [(start + timedelta(minutes=5 * (i + 1)), mm) for i, mm in enumerate(per_5min)]


def engine(**overrides: Any) -> Engine:
    """An engine with no metadata cache (tests add stations between passes)."""
    return Engine(AlertsSettings(station_cache_s=0, **overrides))


def only_rules(conn: psycopg.Connection[Any], *names_like: str) -> None:
    """Disable every seeded rule except those whose name matches one of the patterns."""
    conn.execute("UPDATE rules SET enabled = false")
    for pattern in names_like:
        conn.execute("UPDATE rules SET enabled = true WHERE name LIKE %s", (pattern,))


def changes(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """(incident_id, kind, level, previous_level, notify) of every change, in order."""
    return conn.execute(
        "SELECT incident_id, kind, level, previous_level, notify FROM incident_changes ORDER BY id"
    ).fetchall()
