"""Stations and their rain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from api import rain
from api.auth import STAFF, require
from api.deps import Pool
from vigie.errors import NotFoundError
from vigie.quality import flag_names

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])

_LIST = """
SELECT s.id, s.name, s.commune_insee, c.name AS commune_name, s.lat, s.lon, s.altitude_m,
       s.tip_mm, s.expected_interval_s, s.active, s.dev_eui,
       d.last_seen, d.last_ts, d.battery_v, d.rssi, d.fw, d.clock_offset_s, d.online
FROM stations s JOIN communes c ON c.insee = s.commune_insee
LEFT JOIN device_status d ON d.station_id = s.id
"""


@router.get("", dependencies=[require(*STAFF)])
async def list_stations(pool: Pool) -> list[dict[str, Any]]:
    """Every station with its device status."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST + " ORDER BY s.id")
        return await cur.fetchall()


@router.get("/{station_id}", dependencies=[require(*STAFF)])
async def get_station(pool: Pool, station_id: str) -> dict[str, Any]:
    """One station with its device status."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LIST + " WHERE s.id = %s", (station_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"station inconnue : {station_id}")
    return row


@router.get("/{station_id}/rain", dependencies=[require(*STAFF)])
async def station_rain(
    pool: Pool,
    station_id: str,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    step: Annotated[str, Query(pattern="^(5min|1h|1d)$")] = "1h",
) -> dict[str, Any]:
    """Totals in mm per bucket; buckets with no reading are null, never 0."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM stations WHERE id = %s", (station_id,))
        if await cur.fetchone() is None:
            raise NotFoundError(f"station inconnue : {station_id}")
        buckets = await rain.totals(conn, station_id, start, end, rain.STEPS[step])
    known = [b.mm for b in buckets if b.mm is not None]
    return {
        "station": station_id,
        "step": step,
        "from": start,
        "to": end,
        "unit": "mm",
        "total_mm": round(sum(known), 3) if known else None,
        "buckets": [
            {"start": b.start, "mm": None if b.mm is None else round(b.mm, 3)} for b in buckets
        ],
    }


@router.get("/{station_id}/readings", dependencies=[require(*STAFF)])
async def station_readings(
    pool: Pool,
    station_id: str,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[dict[str, Any]]:
    """The newest raw readings with their quality flags by name (for technicians)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT ts, seq, interval_s, tips, counter, mm, battery_v, rssi, flags, received_at"
            " FROM rain_readings WHERE station_id = %s ORDER BY ts DESC LIMIT %s",
            (station_id, limit),
        )
        rows = await cur.fetchall()
    for row in rows:
        row["flags"] = flag_names(int(row["flags"]))
    return rows
