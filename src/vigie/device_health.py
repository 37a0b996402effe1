"""A gauge's health from its device status: online, late, offline or low battery.

One definition for the API's station health and its maintenance list: late is silence for more
than 1.5 expected intervals, offline more than 3 (or the broker's Last Will said offline, or
never heard from), low battery under the setting."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

LATE_FACTOR = 1.5
OFFLINE_FACTOR = 3.0


class Health(StrEnum):
    ONLINE = "online"
    LATE = "late"
    OFFLINE = "offline"
    LOW_BATTERY = "low_battery"


def connection_state(
    now: datetime, last_seen: datetime | None, expected_interval_s: int, online: bool | None
) -> Health:
    """online, late or offline (the worst first)."""
    if last_seen is None or online is False:
        return Health.OFFLINE
    silent_s = (now - last_seen).total_seconds()
    if silent_s > OFFLINE_FACTOR * expected_interval_s:
        return Health.OFFLINE
    if silent_s > LATE_FACTOR * expected_interval_s:
        return Health.LATE
    return Health.ONLINE


def low_battery(battery_v: float | None, threshold_v: float) -> bool:
    """True when the last reported voltage is under the threshold (unknown is not low)."""
    return battery_v is not None and battery_v < threshold_v


def status(
    now: datetime,
    last_seen: datetime | None,
    expected_interval_s: int,
    online: bool | None,
    battery_v: float | None,
    low_battery_v: float,
) -> Health:
    """The one word for a station: offline or late first, then low battery, else online."""
    state = connection_state(now, last_seen, expected_interval_s, online)
    if state is Health.ONLINE and low_battery(battery_v, low_battery_v):
        return Health.LOW_BATTERY
    return state


def maintenance_reasons(
    fact: dict[str, Any],
    now: datetime,
    *,
    low_battery_v: float,
    radius_km: float,
    wet_mm: float,
    wet_neighbours: int,
) -> dict[str, str]:
    """Why a station needs a visit, reason -> French explanation; empty when it does not.

    `fact` is a row of vigie.stations_queries.maintenance_facts."""
    reasons: dict[str, str] = {}
    interval = int(fact["expected_interval_s"])
    state = connection_state(now, fact["last_seen"], interval, fact["online"])
    if state is not Health.ONLINE:
        if fact["last_seen"] is None:
            why = "aucun message reçu"
        elif fact["online"] is False:
            why = "le broker l'a déclaré hors ligne"
        else:
            why = f"aucun message depuis {int((now - fact['last_seen']).total_seconds() // 60)} min"
        reasons[state.value] = f"{why} (intervalle attendu {interval} s)"
    if low_battery(fact["battery_v"], low_battery_v):
        reasons[Health.LOW_BATTERY.value] = f"batterie à {fact['battery_v']:.2f} V (seuil {low_battery_v} V)"
    if int(fact["double_tips_24h"]) > 0:
        reasons["double_tips"] = f"{fact['double_tips_24h']} relevé(s) avec double basculement en 24 h"
    # A silent gauge is dry too; a clogged funnel is a gauge that reports readings, all zero.
    if (
        state is not Health.OFFLINE
        and int(fact["readings_24h"]) > 0
        and float(fact["mm_24h"]) == 0
        and int(fact["wet_neighbours"]) >= wet_neighbours
    ):
        reasons["clogged_funnel"] = (
            f"sec depuis 24 h alors que {fact['wet_neighbours']} station(s) à moins de {radius_km:g} km"
            f" ont reçu au moins {wet_mm:g} mm : entonnoir bouché ?"
        )
    if int(fact["dead_letters_24h"]) > 0:
        reasons["dead_letters"] = f"{fact['dead_letters_24h']} message(s) refusé(s) en 24 h"
    return reasons
