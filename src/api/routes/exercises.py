"""PCS exercises: an admin replays a past incident or a synthetic storm; the alerts service plays
it (alerts.exercise) and the report says how long each hop took.

Roles: api.route_roles.EXERCISES."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api import route_roles as roles
from api.auth import Principal, require
from api.deps import Pool
from api.openapi import json_body
from api.routes._common import VigieRoute, parse
from api.schemas.errors import error_responses
from api.schemas.residents import ExerciseCreated, ExerciseReport
from vigie import exercises_queries
from vigie.exercises import ExerciseIn
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/api/v1/exercises", tags=["exercises"], route_class=VigieRoute)

ExerciseId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
JsonBody = Annotated[dict[str, Any], Body()]


@router.post("", status_code=201, responses=error_responses(404), openapi_extra=json_body(ExerciseIn))
async def start_exercise(
    pool: Pool, body: JsonBody, principal: Annotated[Principal, require(roles.EXERCISES)]
) -> ExerciseCreated:
    """Store an exercise; its first step is due after start_in_s (the alerts service plays it)."""
    item = parse(ExerciseIn, body, "exercice refusé")
    async with pool.connection() as conn, conn.transaction():
        eid, n, start = await exercises_queries.create(conn, item, principal.name, datetime.now(UTC))
    return ExerciseCreated(id=eid, steps=n, starts_at=start)


@router.get("/{exercise_id}/report", dependencies=[require(roles.EXERCISES)], responses=error_responses(404))
async def exercise_report(pool: Pool, exercise_id: ExerciseId) -> ExerciseReport:
    """Each step, when it was played and how long until the first message, the first SMS and
    the acknowledgement."""
    async with pool.connection() as conn:
        return ExerciseReport.model_validate(await exercises_queries.report(conn, exercise_id))
