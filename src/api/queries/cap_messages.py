"""Async queries of cap_messages, which the alerts service writes (src/alerts/cap.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigie.db import AsyncConn


@dataclass(frozen=True)
class FeedEntry:
    """One cap_messages row as the feed shows it."""

    id: int
    identifier: str
    msg_type: str
    sent: datetime
    headline: str


async def latest(conn: AsyncConn, limit: int) -> list[FeedEntry]:
    """The newest messages first."""
    cur = await conn.execute(
        "SELECT id, identifier, msg_type, sent, headline FROM cap_messages"
        " ORDER BY sent DESC, id DESC LIMIT %s",
        (limit,),
    )
    return [FeedEntry(int(r[0]), str(r[1]), str(r[2]), r[3], str(r[4])) for r in await cur.fetchall()]


async def xml(conn: AsyncConn, message_id: int) -> str | None:
    """One message's CAP XML exactly as published, or None."""
    cur = await conn.execute("SELECT xml FROM cap_messages WHERE id = %s", (message_id,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])
