"""Async queries of rain_readings, the raw readings ingest stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn


async def newest(conn: AsyncConn, station_id: str, limit: int) -> list[dict[str, Any]]:
    """The station's newest readings first, flags as the stored bit set."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT ts, seq, interval_s, tips, counter, mm, battery_v, rssi, flags, received_at"
            " FROM rain_readings WHERE station_id = %s ORDER BY ts DESC LIMIT %s",
            (station_id, limit),
        )
        return await cur.fetchall()


EXPORT_BATCH = 2000
EXPORT_WINDOW = timedelta(days=1)
# The comment names the export in pg_stat_activity (tests/api/test_series_export.py looks for it).
_EXPORT_FROM = (
    "/* vigie_export */ SELECT ts, interval_s, seq, tips, counter, mm, battery_v, rssi, flags, received_at"
    " FROM rain_readings WHERE station_id = %s AND ts >= %s AND ts < %s ORDER BY ts LIMIT %s"
)
_EXPORT_AFTER = (
    "/* vigie_export */ SELECT ts, interval_s, seq, tips, counter, mm, battery_v, rssi, flags, received_at"
    " FROM rain_readings WHERE station_id = %s AND ts > %s AND ts < %s ORDER BY ts LIMIT %s"
)


async def stream_range(
    conn: AsyncConn, station_id: str, start: datetime, end: datetime
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The station's readings with start <= ts < end, oldest first, in batches of at most
    EXPORT_BATCH rows: an export of any size holds one batch in memory, never the whole range.

    Read by key (after the last ts sent) in windows of a day, not through one cursor over the
    range: on a year of the hypertable (365 chunks) PostgreSQL planned that cursor as a sort of
    every row, with JIT, so the first row came after the whole year was read (11 s, measured by
    make bench-api). A day's window keeps each query on one or two chunks and in key order. One
    REPEATABLE READ transaction gives every batch the same snapshot, as the cursor did."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        lo, after = start, False
        while lo < end:
            hi = min(end, lo + EXPORT_WINDOW)
            query = _EXPORT_AFTER if after else _EXPORT_FROM
            cur = await conn.execute(query, (station_id, lo, hi, EXPORT_BATCH), binary=True)
            rows = await cur.fetchall()
            if rows:
                yield rows
            if len(rows) == EXPORT_BATCH:
                lo, after = rows[-1][0], True  # the window goes on after the last row sent
            else:
                lo, after = hi, False
