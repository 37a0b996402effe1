"""Async queries of commune_instructions (the API): read with defaults, write, reset."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from vigie import communes_queries
from vigie.db import AsyncConn
from vigie.errors import NotFoundError
from vigie.instructions import DEFAULTS, KEYS, InstructionIn


async def _require_commune(conn: AsyncConn, insee: str) -> None:
    if not await communes_queries.exists(conn, insee):
        raise NotFoundError(f"commune inconnue : {insee}")


async def for_commune(conn: AsyncConn, insee: str) -> list[dict[str, Any]]:
    """The four consignes of one commune (its own or the default), yellow to end."""
    await _require_commune(conn, insee)
    return (await all_communes(conn, insee))[insee]


async def all_communes(conn: AsyncConn, only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every commune's consignes by INSEE code, each level flagged `custom` when edited."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.insee, c.name, i.level, i.text, i.sms, i.updated_at, i.updated_by"
            " FROM communes c LEFT JOIN commune_instructions i ON i.commune_insee = c.insee"
            " WHERE %(only)s::text IS NULL OR c.insee = %(only)s ORDER BY c.insee",
            {"only": only},
        )
        rows = await cur.fetchall()
    stored: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        per = stored.setdefault(str(r["insee"]), {})
        if r["level"] is not None:
            per[str(r["level"])] = r
    out: dict[str, list[dict[str, Any]]] = {}
    for insee, per in stored.items():
        out[insee] = [
            {
                "level": key,
                "text": per[key]["text"] if key in per else DEFAULTS[key].text,
                "sms": per[key]["sms"] if key in per else DEFAULTS[key].sms,
                "custom": key in per,
                "updated_at": per[key]["updated_at"] if key in per else None,
                "updated_by": per[key]["updated_by"] if key in per else None,
            }
            for key in KEYS
        ]
    return out


async def put(conn: AsyncConn, insee: str, level: str, body: InstructionIn, by: str) -> None:
    """Store the commune's own consigne for this level (replacing any earlier one)."""
    await _require_commune(conn, insee)
    await conn.execute(
        "INSERT INTO commune_instructions (commune_insee, level, text, sms, updated_by)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (commune_insee, level) DO UPDATE"
        " SET text = excluded.text, sms = excluded.sms, updated_by = excluded.updated_by,"
        " updated_at = now()",
        (insee, level, body.text, body.sms, by),
    )


async def reset(conn: AsyncConn, insee: str, level: str) -> None:
    """Back to the default for this level (nothing to do when it is already the default)."""
    await _require_commune(conn, insee)
    await conn.execute(
        "DELETE FROM commune_instructions WHERE commune_insee = %s AND level = %s", (insee, level)
    )
