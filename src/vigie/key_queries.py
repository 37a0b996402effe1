"""Whether ids exist in a table keyed by one text column: one way for every owner module.

The owners (stations, catchments, communes) keep their own `exists`/`missing` so callers name
the table they mean; the SQL is written once here. Table and column names come from the owner
modules' constants, never from a request, and go through psycopg.sql.Identifier anyway.
"""

from __future__ import annotations

from psycopg import sql

from vigie.db import AsyncConn


async def key_exists(conn: AsyncConn, table: str, column: str, key: str) -> bool:
    """True when `table` has a row whose `column` is `key`."""
    query = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(column))
    cur = await conn.execute(query, (key,))
    return await cur.fetchone() is not None


async def missing_keys(conn: AsyncConn, table: str, column: str, keys: list[str]) -> list[str]:
    """The keys of `keys` that `table` has no row for, sorted (one round trip for the lot)."""
    if not keys:
        return []
    query = sql.SQL(
        "SELECT x FROM unnest(%s::text[]) AS x WHERE NOT EXISTS (SELECT 1 FROM {} WHERE {} = x) ORDER BY x"
    ).format(sql.Identifier(table), sql.Identifier(column))
    cur = await conn.execute(query, (keys,))
    return [str(r[0]) for r in await cur.fetchall()]
