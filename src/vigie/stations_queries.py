"""Async queries of stations and their device status (the owner's sync SQL is vigie.stations)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn

_WITH_STATUS = """
SELECT s.id, s.name, s.commune_insee, c.name AS commune_name, s.lat, s.lon, s.altitude_m,
       s.tip_mm, s.expected_interval_s, s.active, s.dev_eui,
       d.last_seen, d.last_ts, d.battery_v, d.rssi, d.fw, d.clock_offset_s, d.online
FROM stations s JOIN communes c ON c.insee = s.commune_insee
LEFT JOIN device_status d ON d.station_id = s.id
"""


async def list_with_status(conn: AsyncConn) -> list[dict[str, Any]]:
    """Every station with its device status, by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_WITH_STATUS + " ORDER BY s.id")
        return await cur.fetchall()


async def get_with_status(conn: AsyncConn, station_id: str) -> dict[str, Any] | None:
    """One station with its device status, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_WITH_STATUS + " WHERE s.id = %s", (station_id,))
        return await cur.fetchone()


async def exists(conn: AsyncConn, station_id: str) -> bool:
    """True when the station is stored."""
    cur = await conn.execute("SELECT 1 FROM stations WHERE id = %s", (station_id,))
    return await cur.fetchone() is not None


async def missing(conn: AsyncConn, ids: list[str]) -> list[str]:
    """The ids of `ids` that are not stations, sorted."""
    if not ids:
        return []
    cur = await conn.execute(
        "SELECT x FROM unnest(%s::text[]) AS x"
        " WHERE NOT EXISTS (SELECT 1 FROM stations WHERE id = x) ORDER BY x",
        (ids,),
    )
    return [str(r[0]) for r in await cur.fetchall()]


async def activity_counts(conn: AsyncConn) -> dict[str, int]:
    """Active stations: how many, how many the broker says are online, and how many went quiet
    (nothing received for three expected intervals: the late-or-offline test of the maintenance
    list). Many quiet at once means the broker or the backhaul is down, not the rain."""
    cur = await conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE d.online),"
        " count(*) FILTER (WHERE d.last_seen IS NULL"
        "   OR d.last_seen < now() - make_interval(secs => 3 * s.expected_interval_s))"
        " FROM stations s LEFT JOIN device_status d ON d.station_id = s.id WHERE s.active"
    )
    row = await cur.fetchone()
    active, online, quiet = (int(x) for x in row) if row else (0, 0, 0)
    return {"active": active, "online": online, "quiet": quiet}
