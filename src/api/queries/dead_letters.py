"""Async queries of dead_letters, the inputs ingest refused."""

from __future__ import annotations

from vigie.db import AsyncConn


async def count(conn: AsyncConn) -> int:
    """Rows in the dead-letter table."""
    cur = await conn.execute("SELECT count(*) FROM dead_letters")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
