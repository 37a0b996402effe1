"""Catchments (bassins versants): create, read, replace, patch, delete.

Reading is PUBLIC: names, areas, communes and polygons are what a resident's map shows, and a
catchment holds no personal data or secret. Writing is ADMIN. The gauges of a catchment and
their weights live in catchment_stations; the API shows them as the catchment's 'stations'.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api.auth import Role, audited, require
from api.deps import Pool
from api.openapi import json_body
from api.routes._common import VigieRoute, merge_patch, parse
from api.schemas.alerts_config import CatchmentOut
from api.schemas.errors import error_responses
from vigie import catchments_queries
from vigie.catchments import CatchmentBody, CatchmentIn


class PolygonRoute(VigieRoute):
    """Catchment bodies may carry a detailed polygon: the largest bodies of the alerts API."""

    body_limit = 512 * 1024


router = APIRouter(prefix="/api/v1/catchments", tags=["catchments"], route_class=PolygonRoute)

# Any id that is not stored is a 404, hostile or not; only absurd lengths are refused (422).
CatchmentId = Annotated[str, Path(min_length=1, max_length=64)]
JsonBody = Annotated[dict[str, Any], Body()]


@router.get("", dependencies=[require(Role.PUBLIC)])
async def list_catchments(pool: Pool) -> list[CatchmentOut]:
    """Every catchment with its gauges, by id."""
    async with pool.connection() as conn:
        rows = await catchments_queries.list_all(conn)
    return [CatchmentOut.model_validate(r) for r in rows]


@router.get("/{catchment_id}", dependencies=[require(Role.PUBLIC)])
async def get_catchment(pool: Pool, catchment_id: CatchmentId) -> CatchmentOut:
    """One catchment with its gauges."""
    async with pool.connection() as conn:
        return CatchmentOut.model_validate(await catchments_queries.get(conn, catchment_id))


@router.post(
    "",
    status_code=201,
    dependencies=[require(Role.TECHNICIAN, Role.ADMIN)],
    responses=error_responses(409),
    openapi_extra=json_body(CatchmentIn),
)
async def create_catchment(pool: Pool, body: JsonBody) -> CatchmentOut:
    """Create a catchment; communes, gauges and upstream catchments must exist."""
    catchment = parse(CatchmentIn, body, "bassin refusé")
    async with pool.connection() as conn, conn.transaction():
        row = await catchments_queries.save(conn, catchment.id, catchment, create=True)
    return CatchmentOut.model_validate(row)


@router.put(
    "/{catchment_id}",
    dependencies=[require(Role.TECHNICIAN, Role.ADMIN)],
    openapi_extra=json_body(CatchmentBody),
)
async def replace_catchment(pool: Pool, catchment_id: CatchmentId, body: JsonBody) -> CatchmentOut:
    """Replace a catchment entirely (the id stays; omitted optional fields take their defaults)."""
    catchment = parse(CatchmentBody, body, "bassin refusé")
    async with pool.connection() as conn, conn.transaction():
        await catchments_queries.get(conn, catchment_id)
        row = await catchments_queries.save(conn, catchment_id, catchment, create=False)
    return CatchmentOut.model_validate(row)


@router.patch("/{catchment_id}", dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def patch_catchment(pool: Pool, catchment_id: CatchmentId, body: JsonBody) -> CatchmentOut:
    """Change some fields (JSON Merge Patch); the whole catchment is re-checked."""
    async with pool.connection() as conn, conn.transaction():
        stored = await catchments_queries.get(conn, catchment_id)
        current = {k: stored[k] for k in catchments_queries.EDITABLE}
        catchment = parse(CatchmentBody, merge_patch(current, body), "bassin refusé")
        row = await catchments_queries.save(conn, catchment_id, catchment, create=False)
    return CatchmentOut.model_validate(row)


@router.delete(
    "/{catchment_id}",
    status_code=204,
    dependencies=[require(Role.TECHNICIAN, Role.ADMIN), audited("deleted")],
    responses=error_responses(409),
)
async def delete_catchment(pool: Pool, catchment_id: CatchmentId) -> None:
    """Delete a catchment nothing refers to any more (409 with the list otherwise)."""
    async with pool.connection() as conn, conn.transaction():
        await catchments_queries.delete(conn, catchment_id)
