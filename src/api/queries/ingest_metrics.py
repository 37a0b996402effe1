"""Async queries of ingest_metrics (each worker's counters) and of the dead-letter table's size."""

from __future__ import annotations

from typing import Any

from vigie.db import AsyncConn


async def workers(conn: AsyncConn) -> list[tuple[str, dict[str, Any]]]:
    """(worker, counters) for every ingest worker that ever committed a batch."""
    cur = await conn.execute("SELECT worker, counters FROM ingest_metrics")
    return [(str(w), dict(c)) for w, c in await cur.fetchall()]
