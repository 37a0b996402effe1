"""Alert rules: create, read, replace, patch, delete; a rule that cannot fire is refused (422).

The rule itself is checked by vigie.alert_rules (shared with the engine); vigie.alert_rules_queries
adds what needs the database (scope, Montana set, the other levels of its group). Reading rules
takes a staff role (they hold technician-only rules and are configuration); writing them,
technician or admin. The public sees the thresholds that mattered in each incident's timeline.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api.auth import STAFF, Role, audited, require
from api.deps import Pool
from api.openapi import json_body
from api.routes._common import VigieRoute, merge_patch, parse
from api.schemas.alerts_config import RuleOut
from api.schemas.errors import error_responses
from vigie import alert_rules_queries
from vigie.alert_rules import RuleIn, group_key, parse_params
from vigie.db import AsyncConn
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], route_class=VigieRoute)

RuleId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
RuleBody = Annotated[dict[str, Any], Body()]


def _shape(row: dict[str, Any]) -> RuleOut:
    """A stored rule with its incident group key, as the API shows it."""
    try:
        key: str | None = group_key(row["kind"], parse_params(row["kind"], row["params"]))
    except ValueError:
        # A stored rule that no longer validates is shown (so it can be fixed), without a group.
        key = None
    return RuleOut.model_validate({**row, "group_key": key})


async def _validated(conn: AsyncConn, data: Any, rule_id: int | None) -> RuleIn:
    # RuleIn is the shared definition; parse() only words pydantic's own errors in French.
    rule = parse(RuleIn, data, "règle refusée")
    await alert_rules_queries.check(conn, rule, rule_id)
    return rule


@router.get("", dependencies=[require(*STAFF)])
async def list_rules(pool: Pool) -> list[RuleOut]:
    """Every rule, enabled or not, by id."""
    async with pool.connection() as conn:
        return [_shape(r) for r in await alert_rules_queries.list_all(conn)]


@router.get("/{rule_id}", dependencies=[require(*STAFF)])
async def get_rule(pool: Pool, rule_id: RuleId) -> RuleOut:
    """One rule."""
    async with pool.connection() as conn:
        return _shape(await alert_rules_queries.get(conn, rule_id))


@router.post(
    "",
    status_code=201,
    dependencies=[require(Role.TECHNICIAN, Role.ADMIN)],
    responses=error_responses(409),
    openapi_extra=json_body(RuleIn),
)
async def create_rule(pool: Pool, body: RuleBody) -> RuleOut:
    """Create a rule after checking that it can fire."""
    async with pool.connection() as conn, conn.transaction():
        await alert_rules_queries.lock(conn)
        rule = await _validated(conn, body, None)
        return _shape(await alert_rules_queries.insert(conn, rule))


@router.put(
    "/{rule_id}",
    dependencies=[require(Role.TECHNICIAN, Role.ADMIN)],
    responses=error_responses(409),
    openapi_extra=json_body(RuleIn),
)
async def replace_rule(pool: Pool, rule_id: RuleId, body: RuleBody) -> RuleOut:
    """Replace a rule entirely; omitted optional fields take their defaults."""
    async with pool.connection() as conn, conn.transaction():
        await alert_rules_queries.lock(conn)
        await alert_rules_queries.get(conn, rule_id)
        rule = await _validated(conn, body, rule_id)
        return _shape(await alert_rules_queries.update(conn, rule_id, rule))


@router.patch(
    "/{rule_id}", dependencies=[require(Role.TECHNICIAN, Role.ADMIN)], responses=error_responses(409)
)
async def patch_rule(pool: Pool, rule_id: RuleId, body: RuleBody) -> RuleOut:
    """Change some fields (JSON Merge Patch, params merged key by key); the whole rule is re-checked."""
    async with pool.connection() as conn, conn.transaction():
        await alert_rules_queries.lock(conn)
        stored = await alert_rules_queries.get(conn, rule_id)
        current = {k: stored[k] for k in alert_rules_queries.EDITABLE}
        rule = await _validated(conn, merge_patch(current, body), rule_id)
        return _shape(await alert_rules_queries.update(conn, rule_id, rule))


@router.delete(
    "/{rule_id}", status_code=204, dependencies=[require(Role.TECHNICIAN, Role.ADMIN), audited("deleted")]
)
async def delete_rule(pool: Pool, rule_id: RuleId) -> None:
    """Delete a rule; its incidents stay (their rule becomes null) and the engine resolves them."""
    async with pool.connection() as conn:
        await alert_rules_queries.delete(conn, rule_id)
