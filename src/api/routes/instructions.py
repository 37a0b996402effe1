"""Consignes ("what to do") per commune and level: read by everyone, edited by an admin.

Roles: api.route_roles (INSTRUCTIONS_READ, INSTRUCTIONS_WRITE)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path

from api import route_roles as roles
from api.auth import Principal, require
from api.deps import Pool
from api.openapi import json_body
from api.routes._common import VigieRoute, parse
from api.schemas.errors import error_responses
from api.schemas.residents import CommuneInstructions, InstructionOut
from vigie import instructions_queries
from vigie.instructions import InstructionIn

router = APIRouter(prefix="/api/v1", tags=["consignes"], route_class=VigieRoute)

Insee = Annotated[str, Path(pattern=r"^[0-9][0-9AB][0-9]{3}$")]
Key = Annotated[Literal["yellow", "orange", "red", "end"], Path()]
JsonBody = Annotated[dict[str, Any], Body()]


def _shape(insee: str, rows: list[dict[str, Any]]) -> CommuneInstructions:
    return CommuneInstructions(insee=insee, instructions=[InstructionOut.model_validate(r) for r in rows])


@router.get("/instructions", dependencies=[require(roles.INSTRUCTIONS_READ)])
async def list_instructions(pool: Pool) -> list[CommuneInstructions]:
    """Every commune's consignes (its own where an admin wrote them, else the defaults)."""
    async with pool.connection() as conn:
        return [_shape(k, v) for k, v in (await instructions_queries.all_communes(conn)).items()]


@router.get(
    "/communes/{insee}/instructions",
    dependencies=[require(roles.INSTRUCTIONS_READ)],
    responses=error_responses(404),
)
async def commune_instructions(pool: Pool, insee: Insee) -> CommuneInstructions:
    """One commune's four consignes: yellow, orange, red and the end of alert."""
    async with pool.connection() as conn:
        return _shape(insee, await instructions_queries.for_commune(conn, insee))


@router.put(
    "/communes/{insee}/instructions/{level}",
    responses=error_responses(404),
    openapi_extra=json_body(InstructionIn),
)
async def put_instruction(
    pool: Pool,
    insee: Insee,
    level: Key,
    body: JsonBody,
    principal: Annotated[Principal, require(roles.INSTRUCTIONS_WRITE)],
) -> CommuneInstructions:
    """Write the commune's own consigne for one level (text: ≤ 1000, sms: ≤ 90 characters)."""
    item = parse(InstructionIn, body, "consigne refusée")
    async with pool.connection() as conn, conn.transaction():
        await instructions_queries.put(conn, insee, level, item, principal.name)
        return _shape(insee, await instructions_queries.for_commune(conn, insee))


@router.delete(
    "/communes/{insee}/instructions/{level}",
    dependencies=[require(roles.INSTRUCTIONS_WRITE)],
    responses=error_responses(404),
)
async def reset_instruction(pool: Pool, insee: Insee, level: Key) -> CommuneInstructions:
    """Back to the default consigne for this level."""
    async with pool.connection() as conn, conn.transaction():
        await instructions_queries.reset(conn, insee, level)
        return _shape(insee, await instructions_queries.for_commune(conn, insee))
