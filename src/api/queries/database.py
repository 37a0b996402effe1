"""Whether the database answers at all (no table: the health check's round trip)."""

from __future__ import annotations

from vigie.db import AsyncConn


async def ping(conn: AsyncConn) -> None:
    """One round trip; raises whatever psycopg raises when the database does not answer."""
    await conn.execute("SELECT 1")
