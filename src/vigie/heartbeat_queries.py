"""Async queries of service_heartbeats for the API (the owner's sync SQL is vigie.heartbeat)."""

from __future__ import annotations

from vigie.db import AsyncConn
from vigie.heartbeat import SELECT_BEATS, LoopBeat, beat_from_row


async def read_all(conn: AsyncConn) -> list[LoopBeat]:
    """Every stored heartbeat, oldest beat first."""
    cur = await conn.execute(SELECT_BEATS + " ORDER BY beat_at")
    return [beat_from_row(r) for r in await cur.fetchall()]
