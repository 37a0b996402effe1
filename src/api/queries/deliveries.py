"""Async queries of deliveries and their attempts (the incident_delivery_log view), and the test
send, which goes through the SQL function vigie_request_test_send shared with the notifier."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn


async def states_of(conn: AsyncConn, incident_id: int) -> dict[str, int]:
    """How many deliveries of the incident are in each state."""
    cur = await conn.execute(
        "SELECT state, count(*) FROM deliveries WHERE incident_id = %s GROUP BY state", (incident_id,)
    )
    return {str(s): int(n) for s, n in await cur.fetchall()}


async def log_page(
    conn: AsyncConn, incident_id: int, *, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """(total rows, one page) of the incident's delivery log: one row per attempt."""
    cur = await conn.execute(
        "SELECT count(*) FROM incident_delivery_log WHERE incident_id = %s", (incident_id,)
    )
    counted = await cur.fetchone()
    async with conn.cursor(row_factory=dict_row) as dcur:
        await dcur.execute(
            "SELECT * FROM incident_delivery_log WHERE incident_id = %s"
            " ORDER BY delivery_id, at NULLS LAST LIMIT %s OFFSET %s",
            (incident_id, limit, offset),
        )
        rows = await dcur.fetchall()
    return (int(counted[0]) if counted else 0), rows


async def request_test_send(conn: AsyncConn, subscriber_id: int, by: str) -> list[tuple[int, int]]:
    """Queue one test delivery per channel of the subscriber: (delivery id, channel index)."""
    cur = await conn.execute("SELECT id FROM vigie_request_test_send(%s, %s) AS id", (subscriber_id, by))
    ids = [int(r[0]) for r in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT id, channel_index FROM deliveries WHERE id = ANY (%s) ORDER BY channel_index", (ids,)
    )
    return [(int(i), int(idx)) for i, idx in await cur.fetchall()]


async def counts_by_state(conn: AsyncConn) -> dict[str, int]:
    """Deliveries per state over all time: pending and sending are the outbox's backlog,
    refused and given_up its failures (for /metrics)."""
    cur = await conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
    return {str(state): int(n) for state, n in await cur.fetchall()}


async def oldest_pending_age_s(conn: AsyncConn) -> float:
    """Seconds since the oldest delivery still waiting was queued; 0 when none waits."""
    cur = await conn.execute(
        "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM deliveries"
        " WHERE state IN ('pending', 'sending') AND not_before <= now()"
    )
    row = await cur.fetchone()
    return float(row[0]) if row else 0.0


async def proof_rows(conn: AsyncConn, incident_id: int) -> list[dict[str, Any]]:
    """One row per delivery of the incident, for the proof of warning: who (name, channel kind,
    the channel's URL for a masked hint), when queued and sent, attempts, state, last outcome."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT d.id, s.name AS subscriber, d.channel_kind, d.purpose, d.level, d.state,"
            " d.attempts, d.created_at AS queued_at, d.sent_at, d.grouped_into,"
            " s.channels -> d.channel_index ->> 'url' AS channel_url,"
            " (SELECT a.detail FROM delivery_attempts a WHERE a.delivery_id = d.id"
            "   ORDER BY a.at DESC LIMIT 1) AS last_detail"
            " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.incident_id = %s ORDER BY d.created_at, d.id",
            (incident_id,),
        )
        return await cur.fetchall()


async def sent_by_change(conn: AsyncConn, incident_id: int) -> list[dict[str, Any]]:
    """Per change of the incident that queued messages: how many, how many the provider accepted,
    and when the first went out (the "notified" steps of the timeline)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT incident_change_id AS change_id, count(*) AS messages,"
            " count(*) FILTER (WHERE state = 'accepted') AS accepted, min(sent_at) AS first_sent_at,"
            " min(created_at) AS queued_at"
            " FROM deliveries WHERE incident_id = %s AND incident_change_id IS NOT NULL"
            " GROUP BY incident_change_id ORDER BY min(created_at)",
            (incident_id,),
        )
        return await cur.fetchall()
