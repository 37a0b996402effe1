"""The sign-in limiter (owner of `signin_attempts`): attempts per account and per address in a
fixed window, counted in the database so that the limit holds across restarts and processes.

Each attempt is counted *before* the password is checked, in one atomic upsert: two processes
racing on the same account cannot both slip under the limit. A successful sign-in takes its own
attempt back, so only failures accumulate."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

Conn = AsyncConnection[Any]


def account_key(login: str) -> str:
    """The limiter key of an account (by login, known or not, so that probing costs the same)."""
    return "compte:" + login.strip().lower()[:200]


def ip_key(ip: str | None) -> str:
    """The limiter key of a client address."""
    return "ip:" + (ip or "inconnue")


async def count_attempt(conn: Conn, key: str, window_s: int) -> int:
    """Count one attempt under key; return the attempts in the current window, this one included."""
    cur = await conn.execute(
        "INSERT INTO signin_attempts AS a (key, attempts, window_start) VALUES (%(k)s, 1, now())"
        " ON CONFLICT (key) DO UPDATE SET"
        "  attempts = CASE WHEN a.window_start < now() - make_interval(secs => %(w)s) THEN 1"
        "                  ELSE a.attempts + 1 END,"
        "  window_start = CASE WHEN a.window_start < now() - make_interval(secs => %(w)s) THEN now()"
        "                      ELSE a.window_start END"
        " RETURNING attempts",
        {"k": key, "w": window_s},
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 1


async def forgive(conn: Conn, key: str) -> None:
    """Take back one attempt (after a successful sign-in)."""
    await conn.execute(
        "UPDATE signin_attempts SET attempts = greatest(attempts - 1, 0) WHERE key = %s", (key,)
    )


async def clear(conn: Conn, key: str) -> None:
    """Forget a key's attempts (an admin's password reset unlocks the account)."""
    await conn.execute("DELETE FROM signin_attempts WHERE key = %s", (key,))
