"""Deployments (Camtrap DP): a camera at a place for a period, with its coordinates, habitat,
height and angle, who set it up and comments. Read by the review's readers, written by
naturalists and admins. An event belongs to the deployment active when it was recorded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from api.auth import Principal, audited, require
from api.deps import Pool
from api.openapi import json_body
from api.queries import deployments
from api.route_roles import REVIEW_READ, REVIEW_WRITE
from api.routes._common import MAX_OFFSET, VigieRoute, merge_patch, parse
from api.schemas.deployments import CAMERA_ID, DeploymentIn, DeploymentOut, DeploymentPage
from api.schemas.errors import error_responses
from api.validation import IsoAwareDatetime
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/api/v1/deployments", tags=["review"], route_class=VigieRoute)

DeploymentId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
READ = require(*REVIEW_READ)
WRITE = require(*REVIEW_WRITE)


def _stored(deployment: DeploymentIn) -> dict[str, Any]:
    return deployment.model_dump()


@router.get("", dependencies=[READ], responses=error_responses(422))
async def list_deployments(
    pool: Pool,
    camera: Annotated[str | None, Query(pattern=CAMERA_ID)] = None,
    active_at: IsoAwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DeploymentPage:
    """Deployments, newest start first; of one camera, and/or active at a time."""
    async with pool.connection() as conn:
        total, rows = await deployments.page(
            conn, camera_id=camera, active_at=active_at, limit=limit, offset=offset
        )
    return DeploymentPage(
        total=total, limit=limit, offset=offset, items=[DeploymentOut.model_validate(r) for r in rows]
    )


@router.get("/{deployment_id}", dependencies=[READ], responses=error_responses(404))
async def get_deployment(pool: Pool, deployment_id: DeploymentId) -> DeploymentOut:
    """One deployment."""
    async with pool.connection() as conn:
        return DeploymentOut.model_validate(await deployments.get(conn, deployment_id))


@router.post("", status_code=201, responses=error_responses(409), openapi_extra=json_body(DeploymentIn))
async def create_deployment(
    pool: Pool, principal: Annotated[Principal, WRITE], body: Annotated[dict[str, Any], Body()]
) -> DeploymentOut:
    """Create a deployment; 409 if it overlaps another of the same camera."""
    new = parse(DeploymentIn, body, "déploiement refusé")
    async with pool.connection() as conn:
        row = await deployments.create(conn, _stored(new), principal.name)
    return DeploymentOut.model_validate(row)


@router.patch(
    "/{deployment_id}",
    dependencies=[WRITE],
    responses=error_responses(404, 409),
    openapi_extra=json_body(DeploymentIn),
)
async def patch_deployment(
    pool: Pool, deployment_id: DeploymentId, body: Annotated[dict[str, Any], Body()]
) -> DeploymentOut:
    """Merge patch (end a deployment with {"end_ts": "…"}); the whole result is checked again."""
    async with pool.connection() as conn:
        current = await deployments.get(conn, deployment_id)
        base = {k: current[k] for k in deployments.WRITABLE if current[k] is not None}
        base = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in base.items()}
        changed = parse(DeploymentIn, merge_patch(base, body), "déploiement refusé")
        row = await deployments.replace(conn, deployment_id, _stored(changed))
    return DeploymentOut.model_validate(row)


@router.delete(
    "/{deployment_id}",
    status_code=204,
    dependencies=[WRITE, audited("deleted")],
    responses=error_responses(404),
)
async def delete_deployment(pool: Pool, deployment_id: DeploymentId) -> None:
    """Delete a deployment; its events stay, with no deployment."""
    async with pool.connection() as conn:
        await deployments.delete(conn, deployment_id)
