"""Async queries of the rain rollups (rain_5min, rain_1h) that ingest maintains: totals per bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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


# The rollups are hypertables of many chunks. Bounds computed in SQL (start - 1 day, a CTE's
# column, date_trunc in a zone) are not constants to the planner, so it plans every chunk of the
# table and prunes them only at execution: measured by make bench-api, planning a year's 13
# chunks of rain_1h (or 53 of rain_5min) cost more than running the query. So the scans get
# plain timestamptz bounds from here, padded by two days on each side: wide enough for any
# bucket of the range (a local day is at most 25 h), while the exact buckets still come from
# the SQL (a row outside them forms a group that the join to the generated buckets drops).
PAD = timedelta(days=2)


def _shift(t: datetime, by: timedelta) -> datetime:
    """t + by, held at the ends of Python's calendar (year 1, year 9999) instead of overflowing."""
    try:
        return t + by
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if by < timedelta(0) else datetime.max.replace(tzinfo=UTC)


def _ceil_hour(t: datetime) -> datetime:
    """The first whole hour at or after t."""
    floor = t.replace(minute=0, second=0, microsecond=0)
    return floor if floor == t else _shift(floor, timedelta(hours=1))


def _params(station_id: str, start: datetime, end: datetime, timezone: str) -> dict[str, object]:
    return {
        "start": start,
        "end": end,
        "sid": station_id,
        "tz": timezone,
        "lo": _shift(start, -PAD),
        "hi": _shift(end, PAD),
    }


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
            SELECT d.bucket, agg.mm
            FROM days d
            LEFT JOIN (SELECT date_trunc('day', bucket, %(tz)s) AS bucket, sum(mm) AS mm
                       FROM rain_1h
                       WHERE station_id = %(sid)s AND bucket >= %(lo)s AND bucket < %(hi)s
                       GROUP BY 1) agg USING (bucket)
            ORDER BY d.bucket
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
                 AND r.bucket >= %(lo)s AND r.bucket < %(hi)s
            ORDER BY b.bucket
            """
        ).format(interval=sql.Literal(step.interval), table=sql.Identifier(step.table))
    async with conn.transaction():
        # Local days follow DST; generate_series steps '1 day' in the session zone.
        await conn.execute("SELECT set_config('TimeZone', %s, true)", (timezone,))
        cur = await conn.execute(query, _params(station_id, start, end, timezone))
        rows = await cur.fetchall()
    return [Bucket(start=r[0], mm=None if r[1] is None else float(r[1])) for r in rows]


@dataclass(frozen=True)
class SeriesStep:
    """A bucket size of the series route and the coarsest stored table that serves it."""

    name: str
    table: str  # rain_readings (raw), rain_5min or rain_1h
    interval: str
    seconds: int


# Each step reads the coarsest table whose buckets divide it: 1 min needs the raw readings,
# 5-30 min the 5-minute rollup, hours and days the hourly one. 1 d buckets are local days.
SERIES_STEPS: dict[str, SeriesStep] = {
    s.name: s
    for s in (
        SeriesStep("1min", "rain_readings", "1 minute", 60),
        SeriesStep("5min", "rain_5min", "5 minutes", 300),
        SeriesStep("15min", "rain_5min", "15 minutes", 900),
        SeriesStep("30min", "rain_5min", "30 minutes", 1800),
        SeriesStep("1h", "rain_1h", "1 hour", 3600),
        SeriesStep("3h", "rain_1h", "3 hours", 10800),
        SeriesStep("6h", "rain_1h", "6 hours", 21600),
        SeriesStep("1d", "rain_1h", "1 day", 86400),
    )
}


@dataclass(frozen=True)
class SeriesBucket:
    """Depth in [start, start + step), the running total and the mean intensity over the bucket.

    depth_mm and intensity_mm_h are None when no reading covers the bucket (never 0);
    cumulative_mm is the rain known so far in the range, None before the first covered bucket.
    """

    start: datetime
    depth_mm: float | None
    cumulative_mm: float | None
    intensity_mm_h: float | None


def _series_query(step: SeriesStep) -> sql.SQL | sql.Composed:
    if step.name == "1d":
        # Local days of Settings.timezone, so 23 h and 25 h days exist: the zone is given to
        # generate_series and date_add (PostgreSQL 16+) rather than set on the session, which
        # took a transaction and two more round trips per request (bench-api).
        return sql.SQL(
            """
            WITH b AS (
                SELECT generate_series(date_trunc('day', %(start)s::timestamptz, %(tz)s),
                                       %(end)s::timestamptz - interval '1 microsecond',
                                       interval '1 day', %(tz)s) AS bucket)
            SELECT b.bucket, agg.mm,
                   extract(epoch FROM date_add(b.bucket, interval '1 day', %(tz)s) - b.bucket)::float8
            FROM b
            LEFT JOIN (SELECT date_trunc('day', bucket, %(tz)s) AS bucket, sum(mm) AS mm
                       FROM rain_1h
                       WHERE station_id = %(sid)s AND bucket >= %(lo)s AND bucket < %(hi)s
                       GROUP BY 1) agg USING (bucket)
            ORDER BY b.bucket
            """
        )
    if step.table == "rain_readings":
        # A raw reading belongs to the bucket that holds the end of its interval minus 1 µs, as in
        # the rollups (ts = 10:05 counts in 10:04); the bounds stay on ts so the index serves them.
        source = sql.SQL(
            """
            SELECT time_bucket({interval}::interval, ts - interval '1 microsecond') AS bucket,
                   sum(mm) AS mm
            FROM rain_readings, lim
            WHERE station_id = %(sid)s AND ts > lim.lo AND ts <= lim.hi AND ts > %(lo)s AND ts < %(hi)s
            GROUP BY 1
            """
        )
    else:
        source = sql.SQL(
            """
            SELECT time_bucket({interval}::interval, bucket) AS bucket, sum(mm) AS mm
            FROM {table}, lim
            WHERE station_id = %(sid)s AND bucket >= lim.lo AND bucket < lim.hi
                  AND bucket >= %(lo)s AND bucket < %(hi)s
            GROUP BY 1
            """
        )
    return sql.SQL(
        """
        WITH lim AS (
            SELECT time_bucket({interval}::interval, %(start)s::timestamptz) AS lo,
                   time_bucket({interval}::interval, %(end)s::timestamptz - interval '1 microsecond')
                       + {interval}::interval AS hi),
        b AS (SELECT generate_series(lim.lo, lim.hi - interval '1 microsecond', {interval}::interval)
                     AS bucket FROM lim),
        agg AS ({source})
        SELECT b.bucket, agg.mm, {seconds} FROM b LEFT JOIN agg USING (bucket) ORDER BY b.bucket
        """
    ).format(
        source=source.format(interval=sql.Literal(step.interval), table=sql.Identifier(step.table)),
        interval=sql.Literal(step.interval),
        seconds=sql.Literal(step.seconds),
    )


async def series(
    conn: AsyncConn,
    station_id: str,
    start: datetime,
    end: datetime,
    step: SeriesStep,
    timezone: str,
) -> list[SeriesBucket]:
    """Depth, running total and intensity per bucket, from the coarsest table serving the step."""
    check_range(start, end, Step(step.name, step.table, step.interval, step.seconds))
    # No session zone is needed: buckets under a day are UTC-aligned (time_bucket on timestamptz)
    # and local days name their zone in the query; days are shown in the zone, as local times.
    params = _params(station_id, start, end, timezone)
    rows = await (await conn.execute(_series_query(step), params)).fetchall()
    if step.seconds >= 86400:
        zone = ZoneInfo(timezone)
        rows = [(bucket.astimezone(zone), mm, seconds) for bucket, mm, seconds in rows]
    out: list[SeriesBucket] = []
    total: float | None = None
    for bucket, mm, seconds in rows:
        depth = None if mm is None else float(mm)
        if depth is not None:
            total = (total or 0.0) + depth
        out.append(
            SeriesBucket(
                start=bucket,
                depth_mm=depth,
                cumulative_mm=total,
                intensity_mm_h=None if depth is None else depth * 3600.0 / float(seconds),
            )
        )
    return out


@dataclass(frozen=True)
class StationTotals:
    """One active station's rain over the last hour and the last 24 h before a time (the map)."""

    station_id: str
    mm_1h: float | None
    mm_24h: float | None
    readings_24h: int


async def recent_totals(conn: AsyncConn, end: datetime) -> list[StationTotals]:
    """Every active station's totals of [end - 1 h, end) and [end - 24 h, end); None when no
    reading covers the span.

    The 5-minute buckets of the span are read from `rain_1h` where whole hours hold them and
    from `rain_5min` only at the edges: about 60 rows a station at most instead of 288 (the map asks
    this of every station; bench-api measured the 288-row scan as most of the database's CPU
    per request). Both rollups are written by ingest from the same inserted rows (migration 001),
    so an hour's row is the sum of its twelve 5-minute rows. The last hour is always read from
    `rain_5min`, so that the hour's total can be cut at `end - 1 h`."""
    try:
        day = end - timedelta(hours=24)
    except OverflowError:  # 0001-01-01: no day before it
        raise ValidationFailed("'to' est hors des dates possibles") from None
    hour = end - timedelta(hours=1)
    whole_from = _ceil_hour(day)  # whole hours: [whole_from, whole_to) from rain_1h
    whole_to = max(whole_from, hour.replace(minute=0, second=0, microsecond=0))
    cur = await conn.execute(
        """
        WITH r AS (
            SELECT station_id, bucket, mm, readings FROM rain_5min
            WHERE bucket >= %(day)s AND bucket < %(whole_from)s
            UNION ALL
            SELECT station_id, bucket, mm, readings FROM rain_1h
            WHERE bucket >= %(whole_from)s AND bucket < %(whole_to)s
            UNION ALL
            SELECT station_id, bucket, mm, readings FROM rain_5min
            WHERE bucket >= %(whole_to)s AND bucket < %(end)s
        )
        SELECT s.id, sum(r.mm) FILTER (WHERE r.bucket >= %(hour)s), sum(r.mm), coalesce(sum(r.readings), 0)
        FROM stations s LEFT JOIN r ON r.station_id = s.id
        WHERE s.active
        GROUP BY s.id ORDER BY s.id
        """,
        # Constant bounds, so only the chunks of the day are planned (see PAD above).
        {"end": end, "hour": hour, "day": day, "whole_from": whole_from, "whole_to": whole_to},
    )
    return [
        StationTotals(
            station_id=str(r[0]),
            mm_1h=None if r[1] is None else float(r[1]),
            mm_24h=None if r[2] is None else float(r[2]),
            readings_24h=int(r[3]),
        )
        for r in await cur.fetchall()
    ]
