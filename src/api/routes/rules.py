"""Alert rules: create, read, replace, patch, delete; a rule that cannot fire is refused (422).

The rule itself is checked by vigie.alert_rules (shared with the engine); this module adds what
needs the database: the scope exists, the Montana set exists, and the rule fits the other
enabled rules of its incident group on the same scope (one rule per level, thresholds rising
with the level). Reading rules takes a staff role (they hold technician-only rules and are
configuration); writing them, technician or admin. The public sees the thresholds that
mattered in each incident's timeline.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.auth import STAFF, Role, audited, require
from api.deps import Pool
from api.routes._common import VigieRoute, merge_patch, parse
from vigie.alert_rules import LEVEL_FR, LEVELS, SCOPE_ALL, RuleIn, group_key, parse_params
from vigie.errors import ConflictError, NotFoundError, ValidationFailed

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], route_class=VigieRoute)

Conn = AsyncConnection[Any]
RuleId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RuleBody = Annotated[dict[str, Any], Body()]
_COLUMNS = "id, name, kind, scope_kind, scope_id, level, params, audience, enabled, created_at, updated_at"
_EDITABLE = ("name", "kind", "scope_kind", "scope_id", "level", "params", "audience", "enabled")
_SCOPE_TABLE = {
    "station": ("SELECT 1 FROM stations WHERE id = %s", "station inconnue"),
    "catchment": ("SELECT 1 FROM catchments WHERE id = %s", "bassin versant inconnu"),
    "commune": ("SELECT 1 FROM communes WHERE insee = %s", "commune inconnue des Deux Vallées"),
}


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """A stored rule with its incident group key, as the API shows it."""
    try:
        row["group_key"] = group_key(row["kind"], parse_params(row["kind"], row["params"]))
    except ValueError:
        # A stored rule that no longer validates is shown (so it can be fixed), without a group.
        row["group_key"] = None
    return row


async def _fetch(conn: Conn, rule_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM rules WHERE id = %s", (rule_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"règle inconnue : {rule_id}")
    return row


async def _check_scope(conn: Conn, rule: RuleIn) -> None:
    if rule.scope_id == SCOPE_ALL:
        return
    query, missing = _SCOPE_TABLE[rule.scope_kind]
    cur = await conn.execute(query, (rule.scope_id,))
    if await cur.fetchone() is None:
        raise ValidationFailed(f"règle refusée : {missing} : {rule.scope_id}")


async def _check_montana(conn: Conn, rule: RuleIn) -> None:
    set_id = rule.params.get("montana_set")
    if rule.kind != "return_period" or set_id is None:
        return
    cur = await conn.execute("SELECT 1 FROM montana_sets WHERE id = %s", (str(set_id),))
    if await cur.fetchone() is None:
        raise ValidationFailed(f"règle refusée : jeu de coefficients de Montana inconnu : {set_id}")


def _compare(rule: RuleIn, other_id: int, other_level: str, other_params: dict[str, Any]) -> None:
    """Refuse a rule that duplicates a level of its group or whose threshold never leads."""
    if other_level == rule.level:
        raise ConflictError(
            f"la règle n° {other_id} porte déjà le niveau {LEVEL_FR[rule.level]} de ce groupe sur "
            "cette portée ; modifiez-la ou désactivez-la"
        )
    mine, theirs = rule.typed_params(), parse_params(rule.kind, other_params)
    higher = LEVELS.index(rule.level) > LEVELS.index(other_level)
    # For 'below' rules (battery), a higher level means a LOWER threshold.
    sign = -1 if mine.is_below() else 1
    leads = sign * (mine.raise_ - theirs.raise_) > 0
    if higher != leads:
        raise ValidationFailed(
            f"règle refusée : seuil {mine.raise_:g} du niveau {LEVEL_FR[rule.level]} incohérent avec "
            f"le seuil {theirs.raise_:g} du niveau {LEVEL_FR[other_level]} (règle n° {other_id}) : "
            "un niveau plus élevé doit avoir un seuil plus strict, sinon il ne se déclencherait "
            "jamais seul"
        )


async def _check_group(conn: Conn, rule: RuleIn, rule_id: int | None) -> None:
    if not rule.enabled:
        return
    mine = group_key(rule.kind, rule.typed_params())
    cur = await conn.execute(
        "SELECT id, level, params FROM rules WHERE enabled AND kind = %s AND scope_kind = %s"
        " AND scope_id = %s AND id IS DISTINCT FROM %s ORDER BY id",
        (rule.kind, rule.scope_kind, rule.scope_id, rule_id),
    )
    for other_id, level, params in await cur.fetchall():
        try:
            same_group = group_key(rule.kind, parse_params(rule.kind, params)) == mine
        except ValueError:
            continue  # a broken stored rule is ignored by the engine too
        if same_group:
            _compare(rule, int(other_id), str(level), params)


async def _validated(conn: Conn, data: dict[str, Any], rule_id: int | None) -> RuleIn:
    # RuleIn is the shared definition; parse() only words pydantic's own errors in French.
    rule = parse(RuleIn, data, "règle refusée")
    await _check_scope(conn, rule)
    await _check_montana(conn, rule)
    await _check_group(conn, rule, rule_id)
    return rule


def _values(rule: RuleIn) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "scope_kind": rule.scope_kind,
        "scope_id": rule.scope_id,
        "level": rule.level,
        "params": Jsonb(rule.normalized_params()),
        "audience": rule.effective_audience(),
        "enabled": rule.enabled,
    }


async def _insert(conn: Conn, rule: RuleIn) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params, audience, enabled)"  # noqa: S608  # _COLUMNS is a constant
            " VALUES (%(name)s, %(kind)s, %(scope_kind)s, %(scope_id)s, %(level)s, %(params)s,"
            f" %(audience)s, %(enabled)s) RETURNING {_COLUMNS}",
            _values(rule),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def _update(conn: Conn, rule_id: int, rule: RuleIn) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE rules SET name = %(name)s, kind = %(kind)s, scope_kind = %(scope_kind)s,"  # noqa: S608  # _COLUMNS is a constant
            " scope_id = %(scope_id)s, level = %(level)s, params = %(params)s,"
            " audience = %(audience)s, enabled = %(enabled)s, updated_at = now()"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {**_values(rule), "id": rule_id},
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"règle inconnue : {rule_id}")
    return row


# Rule writes take one advisory lock so two concurrent writes cannot both pass the group check.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('vigie.rules'))"


@router.get("", dependencies=[require(*STAFF)])
async def list_rules(pool: Pool) -> list[dict[str, Any]]:
    """Every rule, enabled or not, by id."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM rules ORDER BY id")  # noqa: S608
        return [_shape(r) for r in await cur.fetchall()]


@router.get("/{rule_id}", dependencies=[require(*STAFF)])
async def get_rule(pool: Pool, rule_id: RuleId) -> dict[str, Any]:
    """One rule."""
    async with pool.connection() as conn:
        return _shape(await _fetch(conn, rule_id))


@router.post("", status_code=201, dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def create_rule(pool: Pool, body: RuleBody) -> dict[str, Any]:
    """Create a rule after checking that it can fire."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_LOCK)
        rule = await _validated(conn, body, None)
        return _shape(await _insert(conn, rule))


@router.put("/{rule_id}", dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def replace_rule(pool: Pool, rule_id: RuleId, body: RuleBody) -> dict[str, Any]:
    """Replace a rule entirely; omitted optional fields take their defaults."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_LOCK)
        await _fetch(conn, rule_id)
        rule = await _validated(conn, body, rule_id)
        return _shape(await _update(conn, rule_id, rule))


@router.patch("/{rule_id}", dependencies=[require(Role.TECHNICIAN, Role.ADMIN)])
async def patch_rule(pool: Pool, rule_id: RuleId, body: RuleBody) -> dict[str, Any]:
    """Change some fields (JSON Merge Patch, params merged key by key); the whole rule is re-checked."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(_LOCK)
        stored = await _fetch(conn, rule_id)
        current = {k: stored[k] for k in _EDITABLE}
        rule = await _validated(conn, merge_patch(current, body), rule_id)
        return _shape(await _update(conn, rule_id, rule))


@router.delete(
    "/{rule_id}", status_code=204, dependencies=[require(Role.TECHNICIAN, Role.ADMIN), audited("deleted")]
)
async def delete_rule(pool: Pool, rule_id: RuleId) -> None:
    """Delete a rule; its incidents stay (their rule becomes null) and the engine resolves them."""
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM rules WHERE id = %s", (rule_id,))
        if cur.rowcount == 0:
            raise NotFoundError(f"règle inconnue : {rule_id}")
