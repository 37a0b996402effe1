"""The maintenance list: the gauges that need a visit, each with its reasons."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth import Role, require
from api.deps import Pool, SettingsDep
from api.routes._common import VigieRoute
from api.schemas.stations import MaintenanceItem
from vigie import device_health, stations_queries

router = APIRouter(prefix="/api/v1/maintenance", tags=["stations"], route_class=VigieRoute)


@router.get("", dependencies=[require(Role.TECHNICIAN, Role.ADMIN, Role.DUTY)])
async def maintenance_list(pool: Pool, settings: SettingsDep) -> list[MaintenanceItem]:
    """Active stations that need a visit: offline, late, low_battery, double_tips,
    clogged_funnel (dry while its neighbours are wet), dead_letters; healthy ones are not listed."""
    m = settings.maintenance
    async with pool.connection() as conn:
        facts = await stations_queries.maintenance_facts(
            conn, radius_km=m.clogged_radius_km, wet_mm=m.clogged_neighbour_mm
        )
    now = datetime.now(UTC)
    items: list[MaintenanceItem] = []
    for fact in facts:
        reasons = device_health.maintenance_reasons(
            fact,
            now,
            low_battery_v=m.low_battery_v,
            radius_km=m.clogged_radius_km,
            wet_mm=m.clogged_neighbour_mm,
            wet_neighbours=m.clogged_neighbours,
        )
        if reasons:
            items.append(
                MaintenanceItem(
                    station=fact["id"],
                    name=fact["name"],
                    commune_name=fact["commune_name"],
                    reasons=list(reasons),
                    details=reasons,
                    last_seen=fact["last_seen"],
                    battery_v=fact["battery_v"],
                )
            )
    return items
