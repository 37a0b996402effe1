"""Async queries of the rain rollups (rain_5min, rain_1h) that ingest maintains: totals per bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from vigie.db import AsyncConn
from vigie.errors import ValidationFailed


@dataclass(frozen=True)
class Step:
    """One allowed bucket size and how to compute it."""

    name: str
    table: str
    interval: str
    seconds: int


# 1 d buckets are local days (Settings.timezone), summed from the hourly rollup.
STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step("5min", "rain_5min", "5 minutes", 300),
        Step("1h", "rain_1h", "1 hour", 3600),
        Step("1d", "rain_1h", "1 day", 86400),
    )
}
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Bucket:
    """Total for [start, start + step); mm is None when no reading covers the bucket."""

    start: datetime
    mm: float | None


def check_range(start: datetime, end: datetime, step: Step) -> None:
    """Refuse empty, reversed or too-large ranges with a message that says what to change."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("from et to doivent porter un fuseau (ex. 2026-11-28T10:00:00Z)")
    if end <= start:
        raise ValidationFailed("'to' doit être postérieur à 'from'")
    if (end - start).total_seconds() / step.seconds > MAX_BUCKETS:
        raise ValidationFailed(
            f"plus de {MAX_BUCKETS} intervalles : élargissez 'step' ou réduisez la période"
        )


async def totals(
    conn: AsyncConn,
    station_id: str,
    start: datetime,
    end: datetime,
    step: Step,
    timezone: str,
) -> list[Bucket]:
    """Per-bucket totals; a bucket without any reading is None, never 0; days are local to timezone."""
    check_range(start, end, step)
    query: sql.Composable
    if step.name == "1d":
        query = sql.SQL(
            """
            WITH days AS (
                SELECT generate_series(date_trunc('day', %(start)s::timestamptz, %(tz)s),
                                       %(end)s::timestamptz - interval '1 microsecond',
                                       interval '1 day') AS bucket)
            SELECT d.bucket, sum(r.mm)
            FROM days d
            LEFT JOIN rain_1h r ON r.station_id = %(sid)s
                 AND r.bucket >= d.bucket AND r.bucket < d.bucket + interval '1 day'
            GROUP BY d.bucket ORDER BY d.bucket
            """
        )
    else:
        query = sql.SQL(
            """
            WITH b AS (
                SELECT generate_series(time_bucket({interval}::interval, %(start)s::timestamptz),
                                       %(end)s::timestamptz - interval '1 microsecond',
                                       {interval}::interval) AS bucket)
            SELECT b.bucket, r.mm FROM b
            LEFT JOIN {table} r ON r.station_id = %(sid)s AND r.bucket = b.bucket
            ORDER BY b.bucket
            """
        ).format(interval=sql.Literal(step.interval), table=sql.Identifier(step.table))
    async with conn.transaction():
        # Local days follow DST; generate_series steps '1 day' in the session zone.
        await conn.execute("SELECT set_config('TimeZone', %s, true)", (timezone,))
        cur = await conn.execute(query, {"start": start, "end": end, "sid": station_id, "tz": timezone})
        rows = await cur.fetchall()
    return [Bucket(start=r[0], mm=None if r[1] is None else float(r[1])) for r in rows]
