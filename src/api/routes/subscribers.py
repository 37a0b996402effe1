"""Subscribers (who is warned, where, how) and the test send; every route is ADMIN.

Channel URLs are secrets: they are accepted on input, stored, and shown only masked (kind and
scheme://host). They never appear in a response, an error message or a log line. A PATCH that
carries 'channels' replaces the whole list, so an administrator re-enters the URLs to change them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.auth import Principal, Role, audited, require
from api.deps import Pool
from api.routes._common import VigieRoute, merge_patch, parse
from vigie.errors import NotFoundError, ValidationFailed
from vigie.subscribers import SubscriberIn, masked_channels

router = APIRouter(prefix="/api/v1/subscribers", tags=["subscribers"], route_class=VigieRoute)

Conn = AsyncConnection[Any]
SubscriberId = Annotated[int, Path(ge=1, le=2**63 - 1)]
JsonBody = Annotated[dict[str, Any], Body()]
_COLUMNS = (
    "id, name, communes, catchments, min_level, channels, quiet_start, quiet_end, timezone,"
    " audience, active, created_at, updated_at"
)
_EDITABLE = (
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
)


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """A stored subscriber as the API shows it: channels masked."""
    return {**row, "channels": masked_channels(row["channels"])}


async def _fetch(conn: Conn, subscriber_id: int) -> dict[str, Any]:
    """The stored row, channels in clear: for this module's use only, never returned as is."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = %s", (subscriber_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"abonné inconnu : {subscriber_id}")
    return row


async def _check_references(conn: Conn, sub: SubscriberIn) -> None:
    for label, table, column, ids in (
        ("communes : commune(s) inconnue(s) des Deux Vallées", "communes", "insee", sub.communes),
        ("catchments : bassin(s) versant(s) inconnu(s)", "catchments", "id", sub.catchments),
    ):
        if not ids:
            continue
        cur = await conn.execute(
            f"SELECT x FROM unnest(%s::text[]) AS x WHERE NOT EXISTS"  # noqa: S608
            f" (SELECT 1 FROM {table} WHERE {column} = x) ORDER BY x",
            (ids,),
        )
        missing = [str(r[0]) for r in await cur.fetchall()]
        if missing:
            raise ValidationFailed(f"abonné refusé : {label} : {', '.join(missing)}")


def _values(sub: SubscriberIn) -> dict[str, Any]:
    return {
        **sub.model_dump(exclude={"channels"}),
        "channels": Jsonb([ch.model_dump() for ch in sub.channels]),
    }


async def _insert(conn: Conn, sub: SubscriberIn) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "INSERT INTO subscribers (name, communes, catchments, min_level, channels, quiet_start,"  # noqa: S608  # _COLUMNS is a constant
            " quiet_end, timezone, audience, active) VALUES (%(name)s, %(communes)s, %(catchments)s,"
            " %(min_level)s, %(channels)s, %(quiet_start)s, %(quiet_end)s, %(timezone)s,"
            f" %(audience)s, %(active)s) RETURNING {_COLUMNS}",
            _values(sub),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def _update(conn: Conn, subscriber_id: int, sub: SubscriberIn) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE subscribers SET name = %(name)s, communes = %(communes)s,"  # noqa: S608  # _COLUMNS is a constant
            " catchments = %(catchments)s, min_level = %(min_level)s, channels = %(channels)s,"
            " quiet_start = %(quiet_start)s, quiet_end = %(quiet_end)s, timezone = %(timezone)s,"
            " audience = %(audience)s, active = %(active)s, updated_at = now()"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {**_values(sub), "id": subscriber_id},
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"abonné inconnu : {subscriber_id}")
    return row


def _editable(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored fields as JSON-like values, for merging a patch onto them."""
    current = {k: stored[k] for k in _EDITABLE}
    for key in ("quiet_start", "quiet_end"):
        if current[key] is not None:
            current[key] = current[key].isoformat()
    return current


@router.get("", dependencies=[require(Role.ADMIN)])
async def list_subscribers(pool: Pool) -> list[dict[str, Any]]:
    """Every subscriber, channels masked, by id."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM subscribers ORDER BY id")  # noqa: S608
        return [_shape(r) for r in await cur.fetchall()]


@router.get("/{subscriber_id}", dependencies=[require(Role.ADMIN)])
async def get_subscriber(pool: Pool, subscriber_id: SubscriberId) -> dict[str, Any]:
    """One subscriber, channels masked."""
    async with pool.connection() as conn:
        return _shape(await _fetch(conn, subscriber_id))


@router.post("", status_code=201, dependencies=[require(Role.ADMIN)])
async def create_subscriber(pool: Pool, body: JsonBody) -> dict[str, Any]:
    """Create a subscriber; communes and catchments must exist."""
    sub = parse(SubscriberIn, body, "abonné refusé")
    async with pool.connection() as conn, conn.transaction():
        await _check_references(conn, sub)
        return _shape(await _insert(conn, sub))


@router.put("/{subscriber_id}", dependencies=[require(Role.ADMIN)])
async def replace_subscriber(pool: Pool, subscriber_id: SubscriberId, body: JsonBody) -> dict[str, Any]:
    """Replace a subscriber entirely (channels included)."""
    sub = parse(SubscriberIn, body, "abonné refusé")
    async with pool.connection() as conn, conn.transaction():
        await _fetch(conn, subscriber_id)
        await _check_references(conn, sub)
        return _shape(await _update(conn, subscriber_id, sub))


@router.patch("/{subscriber_id}", dependencies=[require(Role.ADMIN)])
async def patch_subscriber(pool: Pool, subscriber_id: SubscriberId, body: JsonBody) -> dict[str, Any]:
    """Change some fields (JSON Merge Patch; 'channels' replaces the list); all re-checked."""
    async with pool.connection() as conn, conn.transaction():
        current = _editable(await _fetch(conn, subscriber_id))
        sub = parse(SubscriberIn, merge_patch(current, body), "abonné refusé")
        await _check_references(conn, sub)
        return _shape(await _update(conn, subscriber_id, sub))


@router.delete("/{subscriber_id}", status_code=204, dependencies=[require(Role.ADMIN), audited("deleted")])
async def delete_subscriber(pool: Pool, subscriber_id: SubscriberId) -> None:
    """Delete a subscriber and, with it, its deliveries (set active=false to keep the log)."""
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM subscribers WHERE id = %s", (subscriber_id,))
        if cur.rowcount == 0:
            raise NotFoundError(f"abonné inconnu : {subscriber_id}")


@router.post("/{subscriber_id}/test", status_code=202)
async def test_send(
    pool: Pool,
    subscriber_id: SubscriberId,
    principal: Annotated[Principal, require(Role.ADMIN)],
) -> dict[str, Any]:
    """Queue one test message per channel of the subscriber; the notifier sends them."""
    async with pool.connection() as conn, conn.transaction():
        channels = masked_channels((await _fetch(conn, subscriber_id))["channels"])
        if not channels:
            raise ValidationFailed("envoi de test impossible : cet abonné n'a aucun canal")
        cur = await conn.execute(
            "SELECT id FROM vigie_request_test_send(%s, %s) AS id", (subscriber_id, principal.name)
        )
        ids = [int(r[0]) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT id, channel_index FROM deliveries WHERE id = ANY (%s) ORDER BY channel_index",
            (ids,),
        )
        queued = [(int(i), int(idx)) for i, idx in await cur.fetchall()]
    return {
        "subscriber_id": subscriber_id,
        "requested_by": principal.name,
        "deliveries": [{"id": i, "channel_index": idx, **channels[idx]} for i, idx in queued],
    }
