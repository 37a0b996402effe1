"""Every station's recent rain in one answer: what the map of the territory colours its gauges by."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import STAFF, require
from api.deps import ReadPool
from api.queries import rain
from api.routes._common import VigieRoute
from api.schemas.stations import RecentRain, StationRecent
from api.validation import IsoAwareDatetime

router = APIRouter(prefix="/api/v1/rain", tags=["stations"], route_class=VigieRoute)


@router.get("/recent", dependencies=[require(*STAFF)])
async def recent_rain(
    pool: ReadPool,
    end: Annotated[IsoAwareDatetime | None, Query(alias="to")] = None,
) -> RecentRain:
    """Each active station's total of the hour and of the 24 h before `to` (default: now), from
    the 5-minute rollup; null when no reading covers the span, never 0."""
    end = end or datetime.now(UTC)
    async with pool.connection() as conn:
        totals = await rain.recent_totals(conn, end)
    return RecentRain.model_validate(
        {
            "to": end,
            "stations": [
                StationRecent(
                    station=t.station_id,
                    mm_1h=None if t.mm_1h is None else round(t.mm_1h, 3),
                    mm_24h=None if t.mm_24h is None else round(t.mm_24h, 3),
                    readings_24h=t.readings_24h,
                )
                for t in totals
            ],
        }
    )
