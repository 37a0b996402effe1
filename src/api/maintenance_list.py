"""The maintenance list, computed once for the API route and the technicians' page: the active
gauges that need a visit, each with its reasons and since when (docs/api.md, docs/web.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vigie import device_health, stations_queries
from vigie.db import AsyncConn
from vigie.settings import MaintenanceSettings


@dataclass(frozen=True)
class Visit:
    """A gauge that needs a visit: its facts row, its reasons (reason -> French explanation) and,
    per reason, since when it holds when that is known."""

    fact: dict[str, Any]
    reasons: dict[str, str]
    since: dict[str, datetime]

    @property
    def earliest(self) -> datetime | None:
        """Since when the gauge has needed a visit, as far as the facts tell."""
        return min(self.since.values(), default=None)


def _since(fact: dict[str, Any], reasons: dict[str, str]) -> dict[str, datetime]:
    """When each reason began: silence past 1.5 (late) or 3 (offline) intervals after the last
    message, or the broker's Last Will; the first double tip or dead letter of the 24 h. A low
    battery or a dry funnel has no start in the facts (only the latest voltage, a 24 h sum)."""
    out: dict[str, datetime] = {}
    interval = timedelta(seconds=int(fact["expected_interval_s"]))
    last_seen: datetime | None = fact["last_seen"]
    for reason, factor in (("late", device_health.LATE_FACTOR), ("offline", device_health.OFFLINE_FACTOR)):
        if reason not in reasons:
            continue
        if fact["online"] is False and fact.get("status_changed_at") is not None:
            out[reason] = fact["status_changed_at"]
        elif last_seen is not None:
            out[reason] = last_seen + interval * factor
    if "double_tips" in reasons and fact.get("first_double_tip") is not None:
        out["double_tips"] = fact["first_double_tip"]
    if "dead_letters" in reasons and fact.get("first_dead_letter") is not None:
        out["dead_letters"] = fact["first_dead_letter"]
    return out


async def visits(conn: AsyncConn, m: MaintenanceSettings, now: datetime | None = None) -> list[Visit]:
    """Active stations that need a visit (offline, late, low_battery, double_tips,
    clogged_funnel, dead_letters), by station id; healthy ones are not listed."""
    now = now or datetime.now(UTC)
    facts = await stations_queries.maintenance_facts(
        conn, radius_km=m.clogged_radius_km, wet_mm=m.clogged_neighbour_mm
    )
    out: list[Visit] = []
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
            out.append(Visit(fact, reasons, _since(fact, reasons)))
    return out
