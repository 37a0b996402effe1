"""Stations and their rain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from api import export
from api.auth import STAFF, audited, require
from api.deps import Pool, ReadPool, SettingsDep
from api.queries import rain, readings
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from api.schemas.stations import RainBucket, RainSeries, RainSeriesDetail, Reading, StationStatus
from api.validation import IsoDatetime
from vigie import stations_queries
from vigie.errors import NotFoundError, ValidationFailed
from vigie.quality import flag_names

router = APIRouter(prefix="/api/v1/stations", tags=["stations"], route_class=VigieRoute)

# Any id that is not stored is a 404, whatever its shape; only absurd lengths are refused (422).
StationId = Annotated[str, Path(min_length=1, max_length=64)]
_SERIES_STEPS = "^(" + "|".join(rain.SERIES_STEPS) + ")$"


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
    pool: ReadPool,
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
    pool: ReadPool,
    station_id: StationId,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[Reading]:
    """The newest raw readings with their quality flags by name (for technicians)."""
    async with pool.connection() as conn:
        rows = await readings.newest(conn, station_id, limit)
    return [Reading.model_validate({**row, "flags": flag_names(int(row["flags"]))}) for row in rows]


@router.get("/{station_id}/series", dependencies=[require(*STAFF)], responses=error_responses(404))
async def station_series(
    pool: ReadPool,
    settings: SettingsDep,
    station_id: StationId,
    start: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoDatetime | None, Query(alias="to")] = None,
    step: Annotated[str, Query(pattern=_SERIES_STEPS)] = "1h",
) -> RainSeriesDetail:
    """Depth, running total and intensity (mm/h) per bucket, from the coarsest table that serves
    the step; buckets with no reading are null, never 0; 1d buckets are local days."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    chosen = rain.SERIES_STEPS[step]
    async with pool.connection() as conn:
        if not await stations_queries.exists(conn, station_id):
            raise NotFoundError(f"station inconnue : {station_id}")
        buckets = await rain.series(conn, station_id, start, end, chosen, settings.timezone)
    total = buckets[-1].cumulative_mm if buckets else None
    return RainSeriesDetail.model_validate(
        {
            "station": station_id,
            "step": step,
            "source": chosen.table,
            "from": start,
            "to": end,
            "total_mm": None if total is None else round(total, 3),
            # Plain dicts, validated in the one model_validate call: a SeriesPoint(...) per
            # bucket was 8 % of the API's CPU on a year of days (bench-api profile).
            "buckets": [
                {
                    "start": b.start,
                    "depth_mm": _round(b.depth_mm),
                    "cumulative_mm": _round(b.cumulative_mm),
                    "intensity_mm_h": _round(b.intensity_mm_h),
                }
                for b in buckets
            ],
        }
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _export_range(
    pool: ReadPool, station_id: str, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The export's range (default: the last 24 h), checked, for a station that exists."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    if end <= start:
        raise ValidationFailed("'to' doit être postérieur à 'from'")
    async with pool.connection() as conn:
        if not await stations_queries.exists(conn, station_id):
            raise NotFoundError(f"station inconnue : {station_id}")
    return start, end


@router.get(
    "/{station_id}/export.csv",
    dependencies=[require(*STAFF), audited("export")],
    responses={**error_responses(404), 200: {"content": {"text/csv": {}}}},
    response_class=StreamingResponse,
)
async def export_csv(
    pool: ReadPool,
    settings: SettingsDep,
    station_id: StationId,
    start: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoDatetime | None, Query(alias="to")] = None,
    sep: Annotated[str, Query(pattern="^[;,]$|^tab$")] = ";",
    decimal: Annotated[str, Query(pattern="^[.,]$")] = ",",
) -> StreamingResponse:
    """The raw readings of a range as CSV, streamed; by default for a French spreadsheet
    (`;` between fields, decimal comma), times in the local zone with their offset."""
    delimiter = "\t" if sep == "tab" else sep
    if delimiter == decimal:
        raise ValidationFailed("sep et decimal doivent différer (ex. sep=; et decimal=,)")
    start, end = await _export_range(pool, station_id, start, end)
    name = f"{station_id}_{start:%Y%m%d}_{end:%Y%m%d}.csv"
    return StreamingResponse(
        export.csv_stream(pool, station_id, start, end, settings.timezone, delimiter, decimal),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/{station_id}/export.json",
    dependencies=[require(*STAFF), audited("export")],
    responses={**error_responses(404), 200: {"content": {"application/json": {}}}},
    response_class=StreamingResponse,
)
async def export_json(
    pool: ReadPool,
    settings: SettingsDep,
    station_id: StationId,
    start: Annotated[IsoDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoDatetime | None, Query(alias="to")] = None,
) -> StreamingResponse:
    """The raw readings of a range as one JSON document, streamed; times in the local zone."""
    start, end = await _export_range(pool, station_id, start, end)
    name = f"{station_id}_{start:%Y%m%d}_{end:%Y%m%d}.json"
    return StreamingResponse(
        export.json_stream(pool, station_id, start, end, settings.timezone),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
