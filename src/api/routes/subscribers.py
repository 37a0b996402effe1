"""Subscribers (who is warned, where, how) and the test send; every route is ADMIN.

Channel URLs are secrets: they are accepted on input, stored, and shown only masked (kind and
scheme://host). They never appear in a response, an error message or a log line. A PATCH that
carries 'channels' replaces the whole list, so an administrator re-enters the URLs to change them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api.auth import Principal, Role, audited, require
from api.deps import Pool
from api.openapi import json_body
from api.queries import deliveries
from api.routes._common import VigieRoute, merge_patch, parse
from api.schemas.alerts_config import QueuedTest, SubscriberOut, TestSend
from vigie import subscribers_queries
from vigie.errors import ValidationFailed
from vigie.ids import BIGINT_MAX
from vigie.subscribers import SubscriberIn, masked_channels

router = APIRouter(prefix="/api/v1/subscribers", tags=["subscribers"], route_class=VigieRoute)

SubscriberId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
JsonBody = Annotated[dict[str, Any], Body()]


def _shape(row: dict[str, Any]) -> SubscriberOut:
    """A stored subscriber as the API shows it: channels masked."""
    return SubscriberOut.model_validate({**row, "channels": masked_channels(row["channels"])})


def _editable(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored fields as JSON-like values, for merging a patch onto them."""
    current = {k: stored[k] for k in subscribers_queries.EDITABLE}
    for key in ("quiet_start", "quiet_end"):
        if current[key] is not None:
            current[key] = current[key].isoformat()
    return current


@router.get("", dependencies=[require(Role.ADMIN)])
async def list_subscribers(pool: Pool) -> list[SubscriberOut]:
    """Every subscriber, channels masked, by id."""
    async with pool.connection() as conn:
        return [_shape(r) for r in await subscribers_queries.list_all(conn)]


@router.get("/{subscriber_id}", dependencies=[require(Role.ADMIN)])
async def get_subscriber(pool: Pool, subscriber_id: SubscriberId) -> SubscriberOut:
    """One subscriber, channels masked."""
    async with pool.connection() as conn:
        return _shape(await subscribers_queries.get(conn, subscriber_id))


@router.post("", status_code=201, dependencies=[require(Role.ADMIN)], openapi_extra=json_body(SubscriberIn))
async def create_subscriber(pool: Pool, body: JsonBody) -> SubscriberOut:
    """Create a subscriber; communes and catchments must exist."""
    sub = parse(SubscriberIn, body, "abonné refusé")
    async with pool.connection() as conn, conn.transaction():
        await subscribers_queries.check_references(conn, sub)
        return _shape(await subscribers_queries.insert(conn, sub))


@router.put("/{subscriber_id}", dependencies=[require(Role.ADMIN)], openapi_extra=json_body(SubscriberIn))
async def replace_subscriber(pool: Pool, subscriber_id: SubscriberId, body: JsonBody) -> SubscriberOut:
    """Replace a subscriber entirely (channels included)."""
    sub = parse(SubscriberIn, body, "abonné refusé")
    async with pool.connection() as conn, conn.transaction():
        await subscribers_queries.get(conn, subscriber_id)
        await subscribers_queries.check_references(conn, sub)
        return _shape(await subscribers_queries.update(conn, subscriber_id, sub))


@router.patch("/{subscriber_id}", dependencies=[require(Role.ADMIN)])
async def patch_subscriber(pool: Pool, subscriber_id: SubscriberId, body: JsonBody) -> SubscriberOut:
    """Change some fields (JSON Merge Patch; 'channels' replaces the list); all re-checked."""
    async with pool.connection() as conn, conn.transaction():
        current = _editable(await subscribers_queries.get(conn, subscriber_id))
        sub = parse(SubscriberIn, merge_patch(current, body), "abonné refusé")
        await subscribers_queries.check_references(conn, sub)
        return _shape(await subscribers_queries.update(conn, subscriber_id, sub))


@router.delete("/{subscriber_id}", status_code=204, dependencies=[require(Role.ADMIN), audited("deleted")])
async def delete_subscriber(pool: Pool, subscriber_id: SubscriberId) -> None:
    """Delete a subscriber and, with it, its deliveries (set active=false to keep the log)."""
    async with pool.connection() as conn:
        await subscribers_queries.delete(conn, subscriber_id)


@router.post("/{subscriber_id}/test", status_code=202)
async def test_send(
    pool: Pool,
    subscriber_id: SubscriberId,
    principal: Annotated[Principal, require(Role.ADMIN)],
) -> TestSend:
    """Queue one test message per channel of the subscriber; the notifier sends them."""
    async with pool.connection() as conn, conn.transaction():
        channels = masked_channels((await subscribers_queries.get(conn, subscriber_id))["channels"])
        if not channels:
            raise ValidationFailed("envoi de test impossible : cet abonné n'a aucun canal")
        queued = await deliveries.request_test_send(conn, subscriber_id, principal.name)
    return TestSend(
        subscriber_id=subscriber_id,
        requested_by=principal.name,
        deliveries=[QueuedTest(id=i, channel_index=idx, **channels[idx]) for i, idx in queued],
    )
