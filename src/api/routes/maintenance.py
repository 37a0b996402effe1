"""The maintenance list: the gauges that need a visit, each with its reasons."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Role, require
from api.deps import Pool, SettingsDep
from api.maintenance_list import visits
from api.routes._common import VigieRoute
from api.schemas.stations import MaintenanceItem

router = APIRouter(prefix="/api/v1/maintenance", tags=["stations"], route_class=VigieRoute)


@router.get("", dependencies=[require(Role.TECHNICIAN, Role.ADMIN, Role.DUTY)])
async def maintenance_list(pool: Pool, settings: SettingsDep) -> list[MaintenanceItem]:
    """Active stations that need a visit: offline, late, low_battery, double_tips,
    clogged_funnel (dry while its neighbours are wet), dead_letters; healthy ones are not listed."""
    async with pool.connection() as conn:
        found = await visits(conn, settings.maintenance)
    return [
        MaintenanceItem(
            station=v.fact["id"],
            name=v.fact["name"],
            commune_name=v.fact["commune_name"],
            reasons=list(v.reasons),
            details=v.reasons,
            last_seen=v.fact["last_seen"],
            battery_v=v.fact["battery_v"],
        )
        for v in found
    ]
