"""Async queries of alert rules, and the checks that need the database before a rule is stored.

vigie.alert_rules checks a rule on its own; these add what needs the other tables: the scope
exists, the Montana set exists, and the rule fits the other enabled rules of its incident group
on the same scope (one rule per level, thresholds rising with the level).
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigie import catchments_queries, communes_queries, stations_queries
from vigie.alert_rules import RuleIn, group_key, parse_params
from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError, ValidationFailed
from vigie.ids import SCOPE_ALL
from vigie.levels import LEVEL_FR, RANK

_COLUMNS = "id, name, kind, scope_kind, scope_id, level, params, audience, enabled, created_at, updated_at"
# The fields a client writes (PUT, PATCH).
EDITABLE = ("name", "kind", "scope_kind", "scope_id", "level", "params", "audience", "enabled")
_SCOPE_LABEL = {
    "station": "station inconnue",
    "catchment": "bassin versant inconnu",
    "commune": "commune inconnue des Deux Vallées",
}


async def lock(conn: AsyncConn) -> None:
    """Serialise rule writes so two concurrent writes cannot both pass the group check."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('vigie.rules'))")


async def list_all(conn: AsyncConn) -> list[dict[str, Any]]:
    """Every rule, enabled or not, by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM rules ORDER BY id")  # noqa: S608  # constant
        return await cur.fetchall()


async def get(conn: AsyncConn, rule_id: int) -> dict[str, Any]:
    """One rule; NotFoundError (in French) when it is not stored."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM rules WHERE id = %s", (rule_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"règle inconnue : {rule_id}")
    return row


async def scoped_to(conn: AsyncConn, scope_kind: str, scope_id: str) -> list[int]:
    """Ids of the rules that watch exactly this scope."""
    cur = await conn.execute(
        "SELECT id FROM rules WHERE scope_kind = %s AND scope_id = %s ORDER BY id", (scope_kind, scope_id)
    )
    return [int(r[0]) for r in await cur.fetchall()]


async def _check_scope(conn: AsyncConn, rule: RuleIn) -> None:
    if rule.scope_id == SCOPE_ALL:
        return
    # Looked up at call time: catchments_queries imports this module (for references_to).
    exists = {
        "station": stations_queries.exists,
        "catchment": catchments_queries.exists,
        "commune": communes_queries.exists,
    }[rule.scope_kind]
    if not await exists(conn, rule.scope_id):
        raise ValidationFailed(f"règle refusée : {_SCOPE_LABEL[rule.scope_kind]} : {rule.scope_id}")


async def _check_montana(conn: AsyncConn, rule: RuleIn) -> None:
    set_id = rule.params.get("montana_set")
    if rule.kind != "return_period" or set_id is None:
        return
    if not await catchments_queries.montana_set_exists(conn, str(set_id)):
        raise ValidationFailed(f"règle refusée : jeu de coefficients de Montana inconnu : {set_id}")


def _compare(rule: RuleIn, other_id: int, other_level: str, other_params: dict[str, Any]) -> None:
    """Refuse a rule that duplicates a level of its group or whose threshold never leads."""
    if other_level == rule.level:
        raise ConflictError(
            f"la règle n° {other_id} porte déjà le niveau {LEVEL_FR[rule.level]} de ce groupe sur "
            "cette portée ; modifiez-la ou désactivez-la"
        )
    mine, theirs = rule.typed_params(), parse_params(rule.kind, other_params)
    higher = RANK[rule.level] > RANK[other_level]
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


async def _check_group(conn: AsyncConn, rule: RuleIn, rule_id: int | None) -> None:
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


async def check(conn: AsyncConn, rule: RuleIn, rule_id: int | None) -> None:
    """Refuse (422/409, in French) a rule whose scope or Montana set is unknown or that cannot fire.

    rule_id is the rule being replaced (None for a new one). Call under lock()."""
    await _check_scope(conn, rule)
    await _check_montana(conn, rule)
    await _check_group(conn, rule, rule_id)


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


async def insert(conn: AsyncConn, rule: RuleIn) -> dict[str, Any]:
    """Store a checked rule; the stored row."""
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


async def update(conn: AsyncConn, rule_id: int, rule: RuleIn) -> dict[str, Any]:
    """Replace a stored rule with a checked one; the stored row (NotFoundError if gone)."""
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


async def delete(conn: AsyncConn, rule_id: int) -> None:
    """Delete a rule (its incidents stay, their rule becomes null); NotFoundError if absent."""
    cur = await conn.execute("DELETE FROM rules WHERE id = %s", (rule_id,))
    if cur.rowcount == 0:
        raise NotFoundError(f"règle inconnue : {rule_id}")
