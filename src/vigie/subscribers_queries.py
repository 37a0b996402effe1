"""Async queries of subscribers. Rows come back with their channel URLs in clear: callers show
them only through vigie.subscribers.masked_channels."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigie import catchments_queries, communes_queries
from vigie.db import AsyncConn
from vigie.errors import NotFoundError, ValidationFailed
from vigie.subscribers import SubscriberIn

_COLUMNS = (
    "id, name, communes, catchments, min_level, channels, quiet_start, quiet_end, timezone,"
    " audience, active, exercises, created_at, updated_at"
)
# The fields a client writes (PUT, PATCH).
EDITABLE = (
    "name",
    "communes",
    "catchments",
    "min_level",
    "channels",
    "quiet_start",
    "quiet_end",
    "timezone",
    "audience",
    "active",
    "exercises",
)


async def list_all(conn: AsyncConn) -> list[dict[str, Any]]:
    """Every subscriber (channels in clear), by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM subscribers ORDER BY id")  # noqa: S608  # constant
        return await cur.fetchall()


async def get(conn: AsyncConn, subscriber_id: int) -> dict[str, Any]:
    """One subscriber (channels in clear); NotFoundError (in French) when absent."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = %s", (subscriber_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"abonné inconnu : {subscriber_id}")
    return row


async def naming_catchment(conn: AsyncConn, catchment_id: str) -> list[int]:
    """Ids of the subscribers that follow this catchment."""
    cur = await conn.execute(
        "SELECT id FROM subscribers WHERE %s = ANY (catchments) ORDER BY id", (catchment_id,)
    )
    return [int(r[0]) for r in await cur.fetchall()]


async def check_references(conn: AsyncConn, sub: SubscriberIn) -> None:
    """ValidationFailed (French) when a commune or a catchment of the subscriber is unknown."""
    for label, find_missing, ids in (
        ("communes : commune(s) inconnue(s) des Deux Vallées", communes_queries.missing, sub.communes),
        ("catchments : bassin(s) versant(s) inconnu(s)", catchments_queries.missing, sub.catchments),
    ):
        absent = await find_missing(conn, list(ids))
        if absent:
            raise ValidationFailed(f"abonné refusé : {label} : {', '.join(absent)}")


def _values(sub: SubscriberIn) -> dict[str, Any]:
    return {
        **sub.model_dump(exclude={"channels"}),
        "channels": Jsonb([ch.model_dump() for ch in sub.channels]),
    }


async def insert(conn: AsyncConn, sub: SubscriberIn) -> dict[str, Any]:
    """Store a subscriber; the stored row."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO subscribers (name, communes, catchments, min_level, channels, quiet_start,"  # noqa: S608  # _COLUMNS is a constant
            " quiet_end, timezone, audience, active, exercises) VALUES (%(name)s, %(communes)s,"
            " %(catchments)s, %(min_level)s, %(channels)s, %(quiet_start)s, %(quiet_end)s,"
            f" %(timezone)s, %(audience)s, %(active)s, %(exercises)s) RETURNING {_COLUMNS}",
            _values(sub),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def update(conn: AsyncConn, subscriber_id: int, sub: SubscriberIn) -> dict[str, Any]:
    """Replace a stored subscriber; the stored row (NotFoundError if gone)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE subscribers SET name = %(name)s, communes = %(communes)s,"  # noqa: S608  # _COLUMNS is a constant
            " catchments = %(catchments)s, min_level = %(min_level)s, channels = %(channels)s,"
            " quiet_start = %(quiet_start)s, quiet_end = %(quiet_end)s, timezone = %(timezone)s,"
            " audience = %(audience)s, active = %(active)s, exercises = %(exercises)s,"
            " updated_at = now()"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {**_values(sub), "id": subscriber_id},
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"abonné inconnu : {subscriber_id}")
    return row


async def delete(conn: AsyncConn, subscriber_id: int) -> None:
    """Delete a subscriber and, by cascade, its deliveries; NotFoundError if absent."""
    cur = await conn.execute("DELETE FROM subscribers WHERE id = %s", (subscriber_id,))
    if cur.rowcount == 0:
        raise NotFoundError(f"abonné inconnu : {subscriber_id}")
