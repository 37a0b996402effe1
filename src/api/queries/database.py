"""The database as a whole (no table): its size, for /metrics."""

from __future__ import annotations

from vigie.db import AsyncConn


async def size_bytes(conn: AsyncConn) -> int:
    """The database's size on disk (pg_database_size)."""
    cur = await conn.execute("SELECT pg_database_size(current_database())")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
