"""Async queries of the communes of the Deux Vallées (seeded by the migrations)."""

from __future__ import annotations

import unicodedata

from vigie.db import AsyncConn
from vigie.key_queries import key_exists, missing_keys


async def exists(conn: AsyncConn, insee: str) -> bool:
    """True when the INSEE code is one of the territory's communes."""
    return await key_exists(conn, "communes", "insee", insee)


async def missing(conn: AsyncConn, codes: list[str]) -> list[str]:
    """The INSEE codes of `codes` that are not communes of the territory, sorted."""
    return await missing_keys(conn, "communes", "insee", codes)


async def names(conn: AsyncConn, codes: list[str]) -> list[str]:
    """The names of these communes, alphabetically (unknown codes are left out)."""
    cur = await conn.execute("SELECT name FROM communes WHERE insee = ANY (%s) ORDER BY name", (codes,))
    return [str(r[0]) for r in await cur.fetchall()]


async def all_names(conn: AsyncConn) -> list[tuple[str, str]]:
    """Every commune of the territory as (INSEE code, name), alphabetically: the forms' lists."""
    cur = await conn.execute("SELECT insee, name FROM communes")
    rows = [(str(i), str(n)) for i, n in await cur.fetchall()]
    # In the order a French reader expects (Mélicocq before Montmacq), whatever the collation.
    return sorted(rows, key=lambda r: unicodedata.normalize("NFKD", r[1]).encode("ascii", "ignore").lower())
async def names_by_code(conn: AsyncConn, codes: list[str]) -> dict[str, str]:
    """INSEE code -> name for these communes, alphabetically by name (unknown codes left out)."""
    cur = await conn.execute(
        "SELECT insee, name FROM communes WHERE insee = ANY (%s) ORDER BY name", (codes,)
    )
    return {str(insee): str(name) for insee, name in await cur.fetchall()}
