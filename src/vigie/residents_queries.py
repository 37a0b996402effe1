"""Async queries of residents and signup_limits (the public sign-up, unsubscription, RGPD).

A confirmed resident owns one `subscribers` row (through subscriber_id) that the notifier uses
like any other; these functions keep the two in step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigie.db import AsyncConn
from vigie.residents import CONSENT_TEXT, SignupIn, channel_url, code_matches

_ERASED_NAME = "Habitant·e supprimé·e (RGPD)"


async def hit_limits(conn: AsyncConn, limits: list[tuple[str, int, int]], now: datetime) -> bool:
    """Count one request against each (key, window_s, allowed); False when one is exceeded.

    Fixed windows, counted in the database (one atomic upsert each), so the limit holds across
    API processes and restarts."""
    await conn.execute("DELETE FROM signup_limits WHERE window_start < %s", (now - timedelta(days=2),))
    ok = True
    for key, window_s, allowed in limits:
        start = datetime.fromtimestamp(now.timestamp() // window_s * window_s, now.tzinfo)
        cur = await conn.execute(
            "INSERT INTO signup_limits (key, window_start, window_s, hits) VALUES (%s, %s, %s, 1)"
            " ON CONFLICT (key, window_s, window_start) DO UPDATE SET hits = signup_limits.hits + 1"
            " RETURNING hits",
            (key, start, window_s),
        )
        row = await cur.fetchone()
        if row is None or int(row[0]) > allowed:
            ok = False
    return ok


async def commune_name(conn: AsyncConn, insee: str) -> str | None:
    """The commune's name, or None when it is not one of the territory's."""
    cur = await conn.execute("SELECT name FROM communes WHERE insee = %s", (insee,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def create_request(
    conn: AsyncConn,
    sub: SignupIn,
    request_key: str,
    token: str,
    code_hash: str | None,
    expires_at: datetime,
    now: datetime,
) -> int:
    """Store a pending sign-up; unconfirmed requests older than a day are erased on the way."""
    await conn.execute(
        "DELETE FROM residents WHERE state = 'pending' AND code_expires_at < %s", (now - timedelta(days=1),)
    )
    cur = await conn.execute(
        "INSERT INTO residents (commune_insee, min_level, channel, address, exercises, request_key,"
        " code_hash, code_expires_at, token, consent_text, requested_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            sub.commune,
            sub.min_level,
            sub.channel,
            sub.address,
            sub.exercises,
            request_key,
            code_hash,
            expires_at,
            token,
            CONSENT_TEXT,
            now,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _activate(conn: AsyncConn, r: dict[str, Any], template: str, now: datetime) -> dict[str, Any]:
    """Make a pending resident active: their own subscriber row (its channel URL from the
    gateway template), or an update of the existing active sign-up for the same address and
    commune (the new level and exercise choice win)."""
    url = channel_url(template, r["channel"], r["address"])
    async with conn.cursor(row_factory=dict_row) as cur:
        # Two confirmations of one address and commune at once: the second waits for the first,
        # then finds its active row (instead of breaking the one-active-row index).
        await cur.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"resident:{r['channel']}:{r['address']}:{r['commune_insee']}",),
        )
        await cur.execute(
            "SELECT id, subscriber_id, token FROM residents WHERE state = 'active' AND channel = %s"
            " AND address = %s AND commune_insee = %s FOR UPDATE",
            (r["channel"], r["address"], r["commune_insee"]),
        )
        existing = await cur.fetchone()
        if existing is not None:
            await cur.execute(
                "UPDATE residents SET min_level = %s, exercises = %s, confirmed_at = %s WHERE id = %s",
                (r["min_level"], r["exercises"], now, existing["id"]),
            )
            await cur.execute(
                "UPDATE subscribers SET min_level = %s, exercises = %s, active = true, updated_at = now()"
                " WHERE id = %s",
                (r["min_level"], r["exercises"], existing["subscriber_id"]),
            )
            await cur.execute("DELETE FROM residents WHERE id = %s", (r["id"],))
            return {"id": existing["id"], "token": existing["token"]}
        await cur.execute(
            "INSERT INTO subscribers (name, communes, min_level, channels, exercises, audience)"
            " SELECT 'Habitant·e de ' || name, ARRAY[insee], %s, %s, %s, 'public' FROM communes"
            " WHERE insee = %s RETURNING id",
            (r["min_level"], Jsonb([{"kind": r["channel"], "url": url}]), r["exercises"], r["commune_insee"]),
        )
        sub = await cur.fetchone()
        assert sub is not None
        await cur.execute(
            "UPDATE residents SET state = 'active', confirmed_at = %s, subscriber_id = %s,"
            " code_hash = NULL WHERE id = %s",
            (now, sub["id"], r["id"]),
        )
    return {"id": r["id"], "token": r["token"]}


async def confirm_code(
    conn: AsyncConn, request_key: str, code: str, max_attempts: int, template: str, now: datetime
) -> tuple[str, dict[str, Any] | None]:
    """('ok', resident) | ('wrong' | 'expired' | 'unknown', None), in the caller's transaction."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM residents WHERE request_key = %s AND state = 'pending' FOR UPDATE", (request_key,)
        )
        r = await cur.fetchone()
    if r is None or r["channel"] != "sms":
        return "unknown", None
    if r["code_expires_at"] < now or r["code_attempts"] >= max_attempts:
        return "expired", None
    if not code_matches(request_key, code, r["code_hash"]):
        await conn.execute("UPDATE residents SET code_attempts = code_attempts + 1 WHERE id = %s", (r["id"],))
        return "wrong", None
    return "ok", await _activate(conn, r, template, now)


async def confirm_token(conn: AsyncConn, token: str, template: str, now: datetime) -> dict[str, Any] | None:
    """Confirm an e-mail sign-up by its link; None when unknown or expired."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT * FROM residents WHERE token = %s AND state = 'pending' AND channel = 'email'"
            " AND code_expires_at >= %s FOR UPDATE",
            (token, now),
        )
        r = await cur.fetchone()
    return None if r is None else await _activate(conn, r, template, now)


_UNSUB = (
    "UPDATE residents SET state = 'unsubscribed', unsubscribed_at = %(now)s"
    " WHERE state = 'active' AND {where} RETURNING subscriber_id"
)


async def _unsubscribe(conn: AsyncConn, where: str, params: dict[str, Any]) -> int:
    cur = await conn.execute(_UNSUB.format(where=where), params)  # where: a constant of this module
    ids = [int(r[0]) for r in await cur.fetchall() if r[0] is not None]
    # Inactive at once: the notifier matches only active subscribers and refuses to send a
    # pending delivery of an inactive one.
    await conn.execute(
        "UPDATE subscribers SET active = false, updated_at = now() WHERE id = ANY (%s)", (ids,)
    )
    return len(ids)


async def unsubscribe_token(conn: AsyncConn, token: str, now: datetime) -> int:
    """Unsubscribe the sign-up this token belongs to; how many were active."""
    return await _unsubscribe(conn, "token = %(token)s", {"token": token, "now": now})


async def unsubscribe_address(conn: AsyncConn, channel: str, address: str, now: datetime) -> int:
    """Unsubscribe every sign-up of this address (a STOP reply); how many were active."""
    return await _unsubscribe(
        conn,
        "channel = %(channel)s AND address = %(address)s",
        {"channel": channel, "address": address, "now": now},
    )


_ERASE = "DELETE FROM residents WHERE {where} RETURNING subscriber_id"


async def _erase(conn: AsyncConn, where: str, params: dict[str, Any]) -> int:
    cur = await conn.execute(_ERASE.format(where=where), params)  # where: a constant of this module
    rows = await cur.fetchall()
    ids = [int(r[0]) for r in rows if r[0] is not None]
    # The subscriber row stays (its deliveries are the mayor's proof of warning) with nothing
    # personal left in it: no address (it was in the channel URL), no name.
    await conn.execute(
        "UPDATE subscribers SET channels = '[]', name = %s, active = false, updated_at = now()"
        " WHERE id = ANY (%s)",
        (_ERASED_NAME, ids),
    )
    return len(rows)


async def erase_token(conn: AsyncConn, token: str) -> int:
    """Erase the resident this token belongs to, and every other sign-up of the same address."""
    cur = await conn.execute("SELECT channel, address FROM residents WHERE token = %s", (token,))
    row = await cur.fetchone()
    if row is None:
        return 0
    return await erase_address(conn, str(row[0]), str(row[1]))


async def erase_address(conn: AsyncConn, channel: str, address: str) -> int:
    """Erase every sign-up of this address; how many rows went."""
    return await _erase(
        conn, "channel = %(channel)s AND address = %(address)s", {"channel": channel, "address": address}
    )


async def reach(conn: AsyncConn) -> list[dict[str, Any]]:
    """Per commune: active residents by channel and pending requests, against the population."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.insee, c.name, c.population,"
            " count(r.id) FILTER (WHERE r.state = 'active' AND r.channel = 'sms') AS sms,"
            " count(r.id) FILTER (WHERE r.state = 'active' AND r.channel = 'email') AS email,"
            " count(r.id) FILTER (WHERE r.state = 'active') AS subscribed,"
            " count(r.id) FILTER (WHERE r.state = 'pending') AS pending"
            " FROM communes c LEFT JOIN residents r ON r.commune_insee = c.insee"
            " GROUP BY c.insee, c.name, c.population ORDER BY c.name"
        )
        rows = await cur.fetchall()
    for r in rows:
        pop = int(r["population"])
        r["per_1000"] = round(1000 * int(r["subscribed"]) / pop, 1) if pop else None
    return rows
