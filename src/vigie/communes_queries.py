"""Async queries of the communes of the Deux Vallées (seeded by the migrations)."""

from __future__ import annotations

from vigie.db import AsyncConn


async def exists(conn: AsyncConn, insee: str) -> bool:
    """True when the INSEE code is one of the territory's communes."""
    cur = await conn.execute("SELECT 1 FROM communes WHERE insee = %s", (insee,))
    return await cur.fetchone() is not None


async def missing(conn: AsyncConn, codes: list[str]) -> list[str]:
    """The INSEE codes of `codes` that are not communes of the territory, sorted."""
    if not codes:
        return []
    cur = await conn.execute(
        "SELECT x FROM unnest(%s::text[]) AS x"
        " WHERE NOT EXISTS (SELECT 1 FROM communes WHERE insee = x) ORDER BY x",
        (codes,),
    )
    return [str(r[0]) for r in await cur.fetchall()]


async def names(conn: AsyncConn, codes: list[str]) -> list[str]:
    """The names of these communes, alphabetically (unknown codes are left out)."""
    cur = await conn.execute("SELECT name FROM communes WHERE insee = ANY (%s) ORDER BY name", (codes,))
    return [str(r[0]) for r in await cur.fetchall()]


async def names_by_code(conn: AsyncConn, codes: list[str]) -> dict[str, str]:
    """INSEE code -> name for these communes, alphabetically by name (unknown codes left out)."""
    cur = await conn.execute(
        "SELECT insee, name FROM communes WHERE insee = ANY (%s) ORDER BY name", (codes,)
    )
    return {str(insee): str(name) for insee, name in await cur.fetchall()}
