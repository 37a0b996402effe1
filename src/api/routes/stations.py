"""Stations and their rain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth import STAFF, require
from api.deps import Pool, SettingsDep
from api.queries import rain, readings
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from api.schemas.stations import RainBucket, RainSeries, Reading, StationStatus
from api.validation import IsoDatetime
from vigie import stations_queries
from vigie.errors import NotFoundError
from vigie.quality import flag_names

router = APIRouter(prefix="/api/v1/stations", tags=["stations"], route_class=VigieRoute)

# Any id that is not stored is a 404, whatever its shape; only absurd lengths are refused (422).
StationId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", dependencies=[require(*STAFF)])
async def list_stations(pool: Pool) -> list[StationStatus]:
    """Every station with its device status."""
    async with pool.connection() as conn:
        rows = await stations_queries.list_with_status(conn)
    return [StationStatus.model_validate(r) for r in rows]


@router.get("/{station_id}", dependencies=[require(*STAFF)], responses=error_responses(404))
async def get_station(pool: Pool, station_id: StationId) -> StationStatus:
    """One station with its device status."""
    async with pool.connection() as conn:
        row = await stations_queries.get_with_status(conn, station_id)
    if row is None:
        raise NotFoundError(f"station inconnue : {station_id}")
    return StationStatus.model_validate(row)


@router.get("/{station_id}/rain", dependencies=[require(*STAFF)], responses=error_responses(404))
async def station_rain(
    pool: Pool,
    settings: SettingsDep,
    station_id: StationId,
    start: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoDatetime | None, Query(alias="to")] = None,
    step: Annotated[str, Query(pattern="^(5min|1h|1d)$")] = "1h",
) -> RainSeries:
    """Totals in mm per bucket; buckets with no reading are null, never 0; 1d buckets are local days."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    async with pool.connection() as conn:
        if not await stations_queries.exists(conn, station_id):
            raise NotFoundError(f"station inconnue : {station_id}")
        buckets = await rain.totals(conn, station_id, start, end, rain.STEPS[step], settings.timezone)
    known = [b.mm for b in buckets if b.mm is not None]
    return RainSeries.model_validate(
        {
            "station": station_id,
            "step": step,
            "from": start,
            "to": end,
            "total_mm": round(sum(known), 3) if known else None,
            "buckets": [
                RainBucket(start=b.start, mm=None if b.mm is None else round(b.mm, 3)) for b in buckets
            ],
        }
    )


@router.get("/{station_id}/readings", dependencies=[require(*STAFF)])
async def station_readings(
    pool: Pool,
    station_id: StationId,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[Reading]:
    """The newest raw readings with their quality flags by name (for technicians)."""
    async with pool.connection() as conn:
        rows = await readings.newest(conn, station_id, limit)
    return [Reading.model_validate({**row, "flags": flag_names(int(row["flags"]))}) for row in rows]
