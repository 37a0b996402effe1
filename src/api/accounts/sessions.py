"""Server-side web sessions (owner of `web_sessions`): the cookie holds only a random key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import AsyncConnection

from api.accounts.opaque import digest, new_secret

Conn = AsyncConnection[Any]
COOKIE = "vigie_session"


@dataclass(frozen=True)
class Session:
    """A live session as the request sees it."""

    id: int
    user_id: int
    csrf_token: str


async def open_session(
    conn: Conn, user_id: int, lifetime: timedelta, ip: str | None, user_agent: str | None
) -> tuple[str, Session]:
    """Create a session; return the cookie value (shown to the browser only) and the session."""
    key = new_secret()
    csrf = secrets.token_urlsafe(32)
    cur = await conn.execute(
        "INSERT INTO web_sessions (token_hash, user_id, csrf_token, expires_at, ip, user_agent)"
        " VALUES (%s, %s, %s, now() + %s, %s, %s) RETURNING id",
        (digest(key), user_id, csrf, lifetime, ip, (user_agent or "")[:400] or None),
    )
    row = await cur.fetchone()
    assert row is not None
    return key, Session(int(row[0]), user_id, csrf)


async def find_session(conn: Conn, key: str) -> Session | None:
    """The live session for a cookie value: not revoked, not expired, its user not disabled."""
    cur = await conn.execute(
        "UPDATE web_sessions s SET last_seen_at = now() FROM users u"
        " WHERE s.token_hash = %s AND u.id = s.user_id AND s.revoked_at IS NULL"
        " AND s.expires_at > now() AND u.disabled_at IS NULL"
        " RETURNING s.id, s.user_id, s.csrf_token",
        (digest(key),),
    )
    row = await cur.fetchone()
    return Session(int(row[0]), int(row[1]), str(row[2])) if row else None


async def revoke_session(conn: Conn, session_id: int) -> None:
    """End one session (sign-out)."""
    await conn.execute(
        "UPDATE web_sessions SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (session_id,)
    )


async def revoke_user_sessions(conn: Conn, user_id: int, *, keep: int | None = None) -> int:
    """End every session of a user (password change, reset, disabling), but `keep`; return how many."""
    cur = await conn.execute(
        "UPDATE web_sessions SET revoked_at = now()"
        " WHERE user_id = %s AND revoked_at IS NULL AND id IS DISTINCT FROM %s",
        (user_id, keep),
    )
    return cur.rowcount
