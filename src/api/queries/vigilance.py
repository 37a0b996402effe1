"""Async queries of the public vigilance page: each commune's last 24 h of rain, from its gauges.

Only totals per commune leave this module: no station id, battery, signal or anything else a
resident has no use for (the public page shows no device health)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vigie.db import AsyncConn

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class CommuneRain:
    """The largest 24 h total among a commune's active gauges; None when none reported."""

    insee: str
    max_mm: float | None
    stations: int
    reporting: int


async def rain_24h_by_commune(conn: AsyncConn, now: datetime) -> dict[str, CommuneRain]:
    """Per commune with at least one active gauge: the max of its gauges' 24 h totals (5 min rollup)."""
    cur = await conn.execute(
        """
        WITH per_station AS (
            SELECT s.commune_insee, s.id, sum(r.mm) AS mm
            FROM stations s
            LEFT JOIN rain_5min r ON r.station_id = s.id AND r.bucket >= %(since)s AND r.bucket < %(now)s
            WHERE s.active
            GROUP BY s.commune_insee, s.id)
        SELECT commune_insee, max(mm), count(*), count(mm) FROM per_station GROUP BY commune_insee
        """,
        {"since": now - DAY, "now": now},
    )
    return {
        str(r[0]): CommuneRain(str(r[0]), None if r[1] is None else float(r[1]), int(r[2]), int(r[3]))
        for r in await cur.fetchall()
    }
