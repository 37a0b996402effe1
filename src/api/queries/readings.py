"""Async queries of rain_readings, the raw readings ingest stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
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


async def stream_range(
    conn: AsyncConn, station_id: str, start: datetime, end: datetime
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The station's readings with start <= ts < end, oldest first, in batches read through a
    server-side cursor: an export of any size holds one batch in memory, never the whole range."""
    async with conn.transaction(), conn.cursor(name="vigie_export") as cur:
        await cur.execute(
            "SELECT ts, interval_s, seq, tips, counter, mm, battery_v, rssi, flags, received_at"
            " FROM rain_readings WHERE station_id = %s AND ts >= %s AND ts < %s ORDER BY ts",
            (station_id, start, end),
        )
        while rows := await cur.fetchmany(EXPORT_BATCH):
            yield rows
