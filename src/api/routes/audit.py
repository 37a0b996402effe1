"""The audit log over the API (admin): newest first, paged by id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.accounts import audit
from api.auth import Role, require
from api.deps import Pool

router = APIRouter(prefix="/api/v1/audit", tags=["accounts"])


class AuditEntry(BaseModel):
    """One entry: who did what, when, from which address."""

    id: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    target: str | None
    ip: str | None
    detail: dict[str, Any]


@router.get("", response_model=list[AuditEntry], dependencies=[require(Role.ADMIN)])
async def entries(
    pool: Pool,
    action: Annotated[
        str | None, Query(pattern=r"^[a-z_.]{1,64}$", description="action ou famille (signin)")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="entrées d'id inférieur")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """Audit entries, newest first; page with `before` set to the last id seen."""
    async with pool.connection() as conn:
        found = await audit.entries(conn, limit=limit, before_id=before, action=action)
    return [AuditEntry(**vars(e)) for e in found]
