"""The public CAP 1.2 feed: an Atom index of the latest messages and each message's XML.

The messages are written by the alerts service (src/alerts/cap.py) into cap_messages; the API
only serves them, byte for byte, and never imports the alerts package. See docs/cap.md.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.auth import Role, require
from api.deps import Pool, SettingsDep
from api.queries import cap_messages
from api.queries.cap_messages import FeedEntry
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from vigie.errors import NotFoundError
from vigie.ids import BIGINT_MAX
from vigie.urls import cap_feed_url, cap_url, public_base_url

router = APIRouter(prefix="/api/v1/alerts", tags=["alertes CAP"], route_class=VigieRoute)

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
CAP_TYPE = "application/cap+xml"
# The feed's own id (RFC 4287 atom:id): stable, whatever URL the site is served under.
FEED_ID = "urn:vigie:deux-vallees:cap:feed"
FEED_TITLE = "Vigie — alertes pluie et ruissellement des Deux Vallées (CAP 1.2)"
AUTHOR = "Communauté de communes des Deux Vallées"
MSG_TYPE_FR = {"Alert": "Nouvelle alerte", "Update": "Mise à jour", "Cancel": "Fin d'alerte"}

def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def atom_feed(entries: Sequence[FeedEntry], base: str, now: datetime) -> bytes:
    """An Atom 1.0 document listing these messages, newest first, each linking to its cap.xml."""
    # A default xmlns on the root rather than ET.register_namespace(), which is global state.
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "fr"})
    _sub(feed, "id", FEED_ID)
    _sub(feed, "title", FEED_TITLE)
    # RFC 4287: the feed's updated is its latest change; an empty feed says "now".
    _sub(feed, "updated", _rfc3339(max((e.sent for e in entries), default=now)))
    author = _sub(feed, "author")
    _sub(author, "name", AUTHOR)
    _sub(feed, "link", rel="self", type=ATOM_TYPE, href=cap_feed_url(base))
    _sub(feed, "generator", "Vigie")
    for e in entries:
        entry = _sub(feed, "entry")
        # The CAP identifier is a URN: unique and permanent, as atom:id must be.
        _sub(entry, "id", e.identifier)
        _sub(entry, "title", e.headline)
        _sub(entry, "updated", _rfc3339(e.sent))
        _sub(entry, "published", _rfc3339(e.sent))
        _sub(entry, "link", rel="alternate", type=CAP_TYPE, href=cap_url(base, e.id))
        _sub(entry, "summary", f"{MSG_TYPE_FR.get(e.msg_type, e.msg_type)} — {e.headline}")
    body: bytes = ET.tostring(feed, encoding="UTF-8", xml_declaration=True)
    return body


@router.get(
    "/cap.atom",
    dependencies=[require(Role.PUBLIC)],
    response_class=Response,
    responses={200: {"content": {ATOM_TYPE: {}}, "description": "Flux Atom des messages CAP"}},
)
async def cap_feed(
    pool: Pool,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """The latest CAP messages (newest first) as an Atom 1.0 feed."""
    async with pool.connection() as conn:
        entries = await cap_messages.latest(conn, limit)
    body = atom_feed(entries, public_base_url(settings), datetime.now(UTC))
    return Response(content=body, media_type=ATOM_TYPE)


@router.get(
    "/{message_id}/cap.xml",
    dependencies=[require(Role.PUBLIC)],
    response_class=Response,
    responses={
        200: {"content": {CAP_TYPE: {}}, "description": "Message CAP 1.2"},
        **error_responses(404),
    },
)
async def cap_message(
    pool: Pool,
    message_id: Annotated[int, Path(ge=1, le=BIGINT_MAX, description="id du message CAP")],
) -> Response:
    """One CAP 1.2 message, exactly as it was published."""
    async with pool.connection() as conn:
        xml = await cap_messages.xml(conn, message_id)
    if xml is None:
        raise NotFoundError(f"message CAP inconnu : {message_id}")
    return Response(content=xml.encode("utf-8"), media_type=CAP_TYPE)
