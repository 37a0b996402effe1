"""Async queries of stations and their device status (the owner's sync SQL is vigie.stations)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from vigie.db import AsyncConn
from vigie.errors import ConflictError, ValidationFailed
from vigie.key_queries import key_exists, missing_keys
from vigie.quality import DOUBLE_TIP, FLAGS

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
    return await key_exists(conn, "stations", "id", station_id)


async def missing(conn: AsyncConn, ids: list[str]) -> list[str]:
    """The ids of `ids` that are not stations, sorted."""
    return await missing_keys(conn, "stations", "id", ids)


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


# Columns a technician may change; the id (the device's broker account) is not one of them.
EDITABLE = ("name", "commune_insee", "lat", "lon", "altitude_m", "tip_mm", "expected_interval_s", "dev_eui")


async def update(conn: AsyncConn, station_id: str, changes: dict[str, Any]) -> bool:
    """Apply `changes` (keys of EDITABLE only) to a station; False when it does not exist.
    ConflictError when the devEUI is another station's, ValidationFailed on an unknown commune."""
    keys = [k for k in EDITABLE if k in changes]
    if not keys:
        return await exists(conn, station_id)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %({})s").format(sql.Identifier(k), sql.SQL(k)) for k in keys
    )
    query = sql.SQL("UPDATE stations SET {} WHERE id = %(station_id)s").format(assignments)
    try:
        async with conn.transaction():
            cur = await conn.execute(query, {**{k: changes[k] for k in keys}, "station_id": station_id})
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"devEUI {changes.get('dev_eui')!r} belongs to another station") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise ValidationFailed(
            f"commune {changes.get('commune_insee')} is not one of the Deux Vallées"
        ) from exc
    return cur.rowcount > 0


async def flag_counts(conn: AsyncConn, station_id: str, hours: int = 24) -> dict[str, int]:
    """How many readings of the last `hours` carry each quality flag, by flag name."""
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE flags & {} <> 0)").format(sql.Literal(f.bit)) for f in FLAGS
    )
    query = sql.SQL(
        "SELECT {} FROM rain_readings WHERE station_id = %s AND ts > now() - make_interval(hours => %s)"
    ).format(counts)
    cur = await conn.execute(query, (station_id, hours))
    row = await cur.fetchone()
    return {f.name: int(row[i]) if row else 0 for i, f in enumerate(FLAGS)}


async def recent_dead_letters(
    conn: AsyncConn, station_id: str, hours: int = 24, limit: int = 20
) -> tuple[int, list[dict[str, Any]]]:
    """The station's dead letters of the last `hours`: how many, and the newest (no payload:
    it is the device's raw input, read through the dead-letter tools)."""
    cur = await conn.execute(
        "SELECT count(*) FROM dead_letters WHERE station_id = %s"
        " AND received_at > now() - make_interval(hours => %s)",
        (station_id, hours),
    )
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    async with conn.cursor(row_factory=dict_row) as dcur:
        await dcur.execute(
            "SELECT id, received_at, topic, reason, detail, payload_size FROM dead_letters"
            " WHERE station_id = %s AND received_at > now() - make_interval(hours => %s)"
            " ORDER BY received_at DESC, id DESC LIMIT %s",
            (station_id, hours, limit),
        )
        return total, await dcur.fetchall()


# One row per active station with what the maintenance list needs. Distances use the haversine
# formula on the stations' lat/lon (a few km: no PostGIS needed). A neighbour is "wet" when it
# got at least `wet_mm` in 24 h; the station itself is "dry" when its readings sum to nothing.
_MAINTENANCE = """
WITH rain AS (
    SELECT station_id, sum(coalesce(mm, 0)) AS mm, count(*) AS readings,
           count(*) FILTER (WHERE flags & %(double_tip)s <> 0) AS double_tips,
           min(ts) FILTER (WHERE flags & %(double_tip)s <> 0) AS first_double_tip
    FROM rain_readings WHERE ts > now() - interval '24 hours' GROUP BY station_id
), dead AS (
    SELECT station_id, count(*) AS n, min(received_at) AS first_at FROM dead_letters
    WHERE received_at > now() - interval '24 hours' AND station_id IS NOT NULL GROUP BY station_id
)
SELECT s.id, s.name, s.commune_insee, c.name AS commune_name, s.expected_interval_s,
       d.last_seen, d.battery_v, d.online, d.status_changed_at,
       coalesce(r.mm, 0) AS mm_24h, coalesce(r.readings, 0) AS readings_24h,
       coalesce(r.double_tips, 0) AS double_tips_24h,
       coalesce(dl.n, 0) AS dead_letters_24h,
       r.first_double_tip, dl.first_at AS first_dead_letter,
       (SELECT count(*) FROM stations o JOIN rain ro ON ro.station_id = o.id
        WHERE o.active AND o.id <> s.id AND ro.mm >= %(wet_mm)s
          AND 2 * 6371.0 * asin(sqrt(
                power(sin(radians(o.lat - s.lat) / 2), 2)
                + cos(radians(s.lat)) * cos(radians(o.lat)) * power(sin(radians(o.lon - s.lon) / 2), 2)
              )) <= %(radius_km)s
       ) AS wet_neighbours
FROM stations s JOIN communes c ON c.insee = s.commune_insee
LEFT JOIN device_status d ON d.station_id = s.id
LEFT JOIN rain r ON r.station_id = s.id
LEFT JOIN dead dl ON dl.station_id = s.id
WHERE s.active
ORDER BY s.id
"""


async def maintenance_facts(conn: AsyncConn, *, radius_km: float, wet_mm: float) -> list[dict[str, Any]]:
    """Every active station with its device status and the last 24 h's rain, double tips, dead
    letters (with the first of each in the 24 h) and wet neighbours (stations within `radius_km`
    that got at least `wet_mm`)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _MAINTENANCE, {"double_tip": DOUBLE_TIP.bit, "wet_mm": wet_mm, "radius_km": radius_km}
        )
        return await cur.fetchall()


async def of_scope(conn: AsyncConn, scope_kind: str, scope_id: str, limit: int = 6) -> list[dict[str, Any]]:
    """The gauges behind an alert's scope (a station, a commune's active gauges, a catchment's
    gauges by weight), at most `limit`, as the alert messages' rain table picks them."""
    if scope_kind == "station":
        query = "SELECT s.id, s.name, s.commune_insee FROM stations s WHERE s.id = %(id)s"
    elif scope_kind == "commune":
        query = (
            "SELECT s.id, s.name, s.commune_insee FROM stations s WHERE s.commune_insee = %(id)s"
            " AND s.active ORDER BY s.id LIMIT %(limit)s"
        )
    elif scope_kind == "catchment":
        query = (
            "SELECT s.id, s.name, s.commune_insee FROM catchment_stations cs"
            " JOIN stations s ON s.id = cs.station_id WHERE cs.catchment_id = %(id)s"
            " ORDER BY cs.weight DESC, s.id LIMIT %(limit)s"
        )
    else:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {"id": scope_id, "limit": limit})
        return await cur.fetchall()
