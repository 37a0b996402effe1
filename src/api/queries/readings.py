"""Async queries of rain_readings, the raw readings ingest stores."""

from __future__ import annotations

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
