"""Async queries of the live stream: what changed after a cursor, in rain_readings (by
received_at), device_status (by status_changed_at) and incident_changes (by id).

The tables' owners are ingest and the alerts engine; these are read-only views over them for the
stream, kept here because they are read together and only by it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from vigie.db import AsyncConn

BATCH = 1000


async def head(conn: AsyncConn) -> dict[str, Any]:
    """Where "from now on" starts: the newest stored reading, status change and incident change."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT (SELECT max(received_at) FROM rain_readings) AS received_at,"
            " (SELECT max(status_changed_at) FROM device_status) AS status_at,"
            " (SELECT coalesce(max(id), 0) FROM incident_changes) AS change_id, now() AS now"
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def readings_since(
    conn: AsyncConn, since: datetime, station: str | None, limit: int = BATCH
) -> list[dict[str, Any]]:
    """Readings received at or after `since`, oldest received first (the caller de-duplicates)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT station_id, ts, received_at, mm, tips, interval_s, battery_v, rssi, flags"
            " FROM rain_readings WHERE received_at >= %s AND (%s::text IS NULL OR station_id = %s)"
            " ORDER BY received_at, station_id, ts LIMIT %s",
            (since, station, station, limit),
        )
        return await cur.fetchall()


async def status_since(conn: AsyncConn, after: datetime, station: str | None) -> list[dict[str, Any]]:
    """Stations whose online status changed after `after` (the latest change of each)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT station_id, online, status_changed_at, last_seen FROM device_status"
            " WHERE status_changed_at > %s AND (%s::text IS NULL OR station_id = %s)"
            " ORDER BY status_changed_at, station_id LIMIT %s",
            (after, station, station, BATCH),
        )
        return await cur.fetchall()


async def incident_changes_after(conn: AsyncConn, after_id: int) -> list[dict[str, Any]]:
    """Incident changes with an id above `after_id`, with their incident's scope and audience."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.id, c.incident_id, c.at, c.kind, c.level, c.previous_level, c.value,"
            " i.state, i.audience, i.scope_kind, i.scope_id, i.title"
            " FROM incident_changes c JOIN incidents i ON i.id = c.incident_id"
            " WHERE c.id > %s ORDER BY c.id LIMIT %s",
            (after_id, BATCH),
        )
        return await cur.fetchall()


async def listen(conn: AsyncConn, channels: Sequence[str]) -> None:
    """LISTEN on each channel (the connection must be in autocommit)."""
    for channel in channels:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
