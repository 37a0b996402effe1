"""Whether the database answers at all (no table: the health check's round trip)."""

from __future__ import annotations

from vigie.db import AsyncConn


async def ping(conn: AsyncConn) -> None:
    """One round trip; raises whatever psycopg raises when the database does not answer."""
    await conn.execute("SELECT 1")


async def size_bytes(conn: AsyncConn) -> int:
    """The database's size on disk (pg_database_size)."""
    cur = await conn.execute("SELECT pg_database_size(current_database())")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
