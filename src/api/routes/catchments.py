"""Catchments (bassins versants): create, read, replace, patch, delete.

Reading is PUBLIC: names, areas, communes and polygons are what a resident's map shows, and a
catchment holds no personal data or secret. Writing is ADMIN. The gauges of a catchment and
their weights live in catchment_stations; the API shows them as the catchment's 'stations'.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.auth import Role, audited, require
from api.deps import Pool
from api.routes._common import VigieRoute, merge_patch, parse
from vigie.catchments import CatchmentBody, CatchmentIn
from vigie.errors import ConflictError, NotFoundError, ValidationFailed


class PolygonRoute(VigieRoute):
    """Catchment bodies may carry a detailed polygon: the largest bodies of the alerts API."""

    body_limit = 512 * 1024


router = APIRouter(prefix="/api/v1/catchments", tags=["catchments"], route_class=PolygonRoute)

Conn = AsyncConnection[Any]
# Any id that is not stored is a 404, hostile or not; only absurd lengths are refused (422).
CatchmentId = Annotated[str, Path(min_length=1, max_length=64)]
JsonBody = Annotated[dict[str, Any], Body()]

_SELECT = """
SELECT c.id, c.name, c.area_km2, c.cn2, c.communes, c.upstream, c.polygon, c.montana,
       c.created_at, c.updated_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('station_id', cs.station_id,
                                                     'weight', cs.weight) ORDER BY cs.station_id)
                   FROM catchment_stations cs WHERE cs.catchment_id = c.id), '[]') AS stations
FROM catchments c
"""
_EDITABLE = ("name", "area_km2", "cn2", "communes", "upstream", "stations", "polygon", "montana")
# Catchment writes take one advisory lock: the upstream-cycle check reads other catchments.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('vigie.catchments'))"


async def _fetch(conn: Conn, catchment_id: str) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " WHERE c.id = %s", (catchment_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"bassin versant inconnu : {catchment_id}")
    return row


async def _missing(conn: Conn, table: str, column: str, ids: list[str]) -> list[str]:
    """The ids of `ids` absent from table.column (table and column are constants of this module)."""
    if not ids:
        return []
    cur = await conn.execute(
        f"SELECT x FROM unnest(%s::text[]) AS x WHERE NOT EXISTS"  # noqa: S608
        f" (SELECT 1 FROM {table} WHERE {column} = x) ORDER BY x",
        (ids,),
    )
    return [str(r[0]) for r in await cur.fetchall()]


async def _upstream_reaches(conn: Conn, start: list[str], target: str) -> bool:
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


async def _check_references(conn: Conn, catchment_id: str, body: CatchmentBody) -> None:
    checks = (
        ("communes", "communes", "insee", body.communes, "commune(s) inconnue(s) des Deux Vallées"),
        ("upstream", "catchments", "id", body.upstream, "bassin(s) amont inconnu(s)"),
        ("stations", "stations", "id", [s.station_id for s in body.stations], "station(s) inconnue(s)"),
    )
    for field, table, column, ids, label in checks:
        missing = await _missing(conn, table, column, ids)
        if missing:
            raise ValidationFailed(f"bassin refusé : {field} : {label} : {', '.join(missing)}")
    if catchment_id in body.upstream or await _upstream_reaches(conn, body.upstream, catchment_id):
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


async def _replace_stations(conn: Conn, catchment_id: str, body: CatchmentBody) -> None:
    await conn.execute("DELETE FROM catchment_stations WHERE catchment_id = %s", (catchment_id,))
    for s in body.stations:
        await conn.execute(
            "INSERT INTO catchment_stations (catchment_id, station_id, weight) VALUES (%s, %s, %s)",
            (catchment_id, s.station_id, s.weight),
        )


async def _save(conn: Conn, catchment_id: str, body: CatchmentBody, *, create: bool) -> dict[str, Any]:
    await conn.execute(_LOCK)
    await _check_references(conn, catchment_id, body)
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
    return await _fetch(conn, catchment_id)


async def _references_to(conn: Conn, catchment_id: str) -> list[str]:
    """What still names this catchment: rules, other catchments' upstream, subscribers."""
    cur = await conn.execute(
        "SELECT 'règle n° ' || id FROM rules WHERE scope_kind = 'catchment' AND scope_id = %(id)s"
        " UNION ALL SELECT 'bassin ' || id FROM catchments WHERE %(id)s = ANY (upstream)"
        " UNION ALL SELECT 'abonné n° ' || id FROM subscribers WHERE %(id)s = ANY (catchments)",
        {"id": catchment_id},
    )
    return [str(r[0]) for r in await cur.fetchall()]


@router.get("", dependencies=[require(Role.PUBLIC)])
async def list_catchments(pool: Pool) -> list[dict[str, Any]]:
    """Every catchment with its gauges, by id."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SELECT + " ORDER BY c.id")
        return await cur.fetchall()


@router.get("/{catchment_id}", dependencies=[require(Role.PUBLIC)])
async def get_catchment(pool: Pool, catchment_id: CatchmentId) -> dict[str, Any]:
    """One catchment with its gauges."""
    async with pool.connection() as conn:
        return await _fetch(conn, catchment_id)


@router.post("", status_code=201, dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def create_catchment(pool: Pool, body: JsonBody) -> dict[str, Any]:
    """Create a catchment; communes, gauges and upstream catchments must exist."""
    catchment = parse(CatchmentIn, body, "bassin refusé")
    async with pool.connection() as conn, conn.transaction():
        return await _save(conn, catchment.id, catchment, create=True)


@router.put("/{catchment_id}", dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def replace_catchment(pool: Pool, catchment_id: CatchmentId, body: JsonBody) -> dict[str, Any]:
    """Replace a catchment entirely (the id stays; omitted optional fields take their defaults)."""
    catchment = parse(CatchmentBody, body, "bassin refusé")
    async with pool.connection() as conn, conn.transaction():
        await _fetch(conn, catchment_id)
        return await _save(conn, catchment_id, catchment, create=False)


@router.patch("/{catchment_id}", dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def patch_catchment(pool: Pool, catchment_id: CatchmentId, body: JsonBody) -> dict[str, Any]:
    """Change some fields (JSON Merge Patch); the whole catchment is re-checked."""
    async with pool.connection() as conn, conn.transaction():
        stored = await _fetch(conn, catchment_id)
        current = {k: stored[k] for k in _EDITABLE}
        catchment = parse(CatchmentBody, merge_patch(current, body), "bassin refusé")
        return await _save(conn, catchment_id, catchment, create=False)


@router.delete(
    "/{catchment_id}",
    status_code=204,
    dependencies=[require(Role.TECHNICIAN, Role.ADMIN), audited("deleted")],
)
async def delete_catchment(pool: Pool, catchment_id: CatchmentId) -> None:
    """Delete a catchment nothing refers to any more (409 with the list otherwise)."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_LOCK)
        await _fetch(conn, catchment_id)
        refs = await _references_to(conn, catchment_id)
        if refs:
            shown = ", ".join(refs[:10]) + (" …" if len(refs) > 10 else "")
            raise ConflictError(f"bassin versant encore utilisé par : {shown}")
        await conn.execute("DELETE FROM catchments WHERE id = %s", (catchment_id,))
