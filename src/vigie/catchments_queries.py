"""Async queries of catchments, their gauges (catchment_stations) and the Montana sets.

Writes check every reference first (communes, gauges, upstream catchments, no upstream cycle)
and hold one advisory lock, since the cycle check reads the other catchments.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigie import alert_rules_queries, communes_queries, stations_queries, subscribers_queries
from vigie.catchments import CatchmentBody
from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError, ValidationFailed
from vigie.key_queries import key_exists, missing_keys

_SELECT = """
SELECT c.id, c.name, c.area_km2, c.cn2, c.communes, c.upstream, c.polygon, c.montana,
       c.created_at, c.updated_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('station_id', cs.station_id,
                                                     'weight', cs.weight) ORDER BY cs.station_id)
                   FROM catchment_stations cs WHERE cs.catchment_id = c.id), '[]') AS stations
FROM catchments c
"""
# The fields a client writes (PUT, PATCH): everything but the id and the timestamps.
EDITABLE = ("name", "area_km2", "cn2", "communes", "upstream", "stations", "polygon", "montana")


async def lock(conn: AsyncConn) -> None:
    """Serialise catchment writes until the end of the transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('vigie.catchments'))")


async def list_all(conn: AsyncConn) -> list[dict[str, Any]]:
    """Every catchment with its gauges, by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " ORDER BY c.id")
        return await cur.fetchall()


async def get(conn: AsyncConn, catchment_id: str) -> dict[str, Any]:
    """One catchment with its gauges; NotFoundError (in French) when it is not stored."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " WHERE c.id = %s", (catchment_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"bassin versant inconnu : {catchment_id}")
    return row


async def exists(conn: AsyncConn, catchment_id: str) -> bool:
    """True when the catchment is stored."""
    return await key_exists(conn, "catchments", "id", catchment_id)


async def missing(conn: AsyncConn, ids: list[str]) -> list[str]:
    """The ids of `ids` that are not catchments, sorted."""
    return await missing_keys(conn, "catchments", "id", ids)


async def montana_set_exists(conn: AsyncConn, set_id: str) -> bool:
    """True when a Montana coefficient set of this id is stored."""
    cur = await conn.execute("SELECT 1 FROM montana_sets WHERE id = %s", (set_id,))
    return await cur.fetchone() is not None


async def upstream_reaches(conn: AsyncConn, start: list[str], target: str) -> bool:
    """True when following 'upstream' from start reaches target (a cycle once target is saved)."""
    if not start:
        return False
    cur = await conn.execute(
        "WITH RECURSIVE up(id) AS (SELECT unnest(%s::text[])"
        " UNION SELECT unnest(c.upstream) FROM catchments c JOIN up ON c.id = up.id)"
        " SELECT EXISTS (SELECT 1 FROM up WHERE id = %s)",
        (start, target),
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def check_references(conn: AsyncConn, catchment_id: str, body: CatchmentBody) -> None:
    """ValidationFailed (French) on an unknown commune, gauge or upstream catchment, or a cycle."""
    checks = (
        ("communes", communes_queries.missing, body.communes, "commune(s) inconnue(s) des Deux Vallées"),
        ("upstream", missing, body.upstream, "bassin(s) amont inconnu(s)"),
        ("stations", stations_queries.missing, [s.station_id for s in body.stations], "station(s) inconnue(s)"),  # noqa: E501
    )
    for field, find_missing, ids, label in checks:
        absent = await find_missing(conn, ids)
        if absent:
            raise ValidationFailed(f"bassin refusé : {field} : {label} : {', '.join(absent)}")
    if catchment_id in body.upstream or await upstream_reaches(conn, body.upstream, catchment_id):
        raise ValidationFailed("bassin refusé : upstream : la chaîne amont reviendrait à ce bassin")


def _values(catchment_id: str, body: CatchmentBody) -> dict[str, Any]:
    dumped = body.model_dump(mode="json")
    return {
        "id": catchment_id,
        "name": body.name,
        "area_km2": body.area_km2,
        "cn2": body.cn2,
        "communes": body.communes,
        "upstream": body.upstream,
        "polygon": None if body.polygon is None else Jsonb(dumped["polygon"]),
        "montana": None if body.montana is None else Jsonb(dumped["montana"]),
    }


async def _replace_stations(conn: AsyncConn, catchment_id: str, body: CatchmentBody) -> None:
    await conn.execute("DELETE FROM catchment_stations WHERE catchment_id = %s", (catchment_id,))
    for s in body.stations:
        await conn.execute(
            "INSERT INTO catchment_stations (catchment_id, station_id, weight) VALUES (%s, %s, %s)",
            (catchment_id, s.station_id, s.weight),
        )


async def save(conn: AsyncConn, catchment_id: str, body: CatchmentBody, *, create: bool) -> dict[str, Any]:
    """Insert (create) or replace a catchment after checking its references; the stored row.

    Call inside a transaction: it takes the catchments' lock."""
    await lock(conn)
    await check_references(conn, catchment_id, body)
    if create:
        cur = await conn.execute(
            "INSERT INTO catchments (id, name, area_km2, cn2, communes, upstream, polygon, montana)"
            " VALUES (%(id)s, %(name)s, %(area_km2)s, %(cn2)s, %(communes)s, %(upstream)s,"
            " %(polygon)s, %(montana)s) ON CONFLICT (id) DO NOTHING",
            _values(catchment_id, body),
        )
        if cur.rowcount == 0:
            raise ConflictError(f"le bassin versant {catchment_id} existe déjà")
    else:
        await conn.execute(
            "UPDATE catchments SET name = %(name)s, area_km2 = %(area_km2)s, cn2 = %(cn2)s,"
            " communes = %(communes)s, upstream = %(upstream)s, polygon = %(polygon)s,"
            " montana = %(montana)s, updated_at = now() WHERE id = %(id)s",
            _values(catchment_id, body),
        )
    await _replace_stations(conn, catchment_id, body)
    return await get(conn, catchment_id)


async def downstream_of(conn: AsyncConn, catchment_id: str) -> list[str]:
    """The catchments that name this one upstream, by id."""
    cur = await conn.execute(
        "SELECT id FROM catchments WHERE %s = ANY (upstream) ORDER BY id", (catchment_id,)
    )
    return [str(r[0]) for r in await cur.fetchall()]


async def references_to(conn: AsyncConn, catchment_id: str) -> list[str]:
    """What still names this catchment, in French: rules, downstream catchments, subscribers."""
    rules = await alert_rules_queries.scoped_to(conn, "catchment", catchment_id)
    downstream = await downstream_of(conn, catchment_id)
    subscribers = await subscribers_queries.naming_catchment(conn, catchment_id)
    return (
        [f"règle n° {i}" for i in rules]
        + [f"bassin {c}" for c in downstream]
        + [f"abonné n° {i}" for i in subscribers]
    )


async def delete(conn: AsyncConn, catchment_id: str) -> None:
    """Delete a catchment nothing refers to any more (ConflictError with the list otherwise).

    Call inside a transaction: it takes the catchments' lock."""
    await lock(conn)
    await get(conn, catchment_id)
    refs = await references_to(conn, catchment_id)
    if refs:
        shown = ", ".join(refs[:10]) + (" …" if len(refs) > 10 else "")
        raise ConflictError(f"bassin versant encore utilisé par : {shown}")
    await conn.execute("DELETE FROM catchments WHERE id = %s", (catchment_id,))
