"""The live stream of readings, station status and incident changes (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api import live
from api.auth import STAFF, require
from api.deps import Pool, ReadPool
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from vigie import stations_queries
from vigie.errors import NotFoundError
from vigie.ids import STATION_ID

router = APIRouter(prefix="/api/v1", tags=["live"], route_class=VigieRoute)


@router.get(
    "/live",
    dependencies=[require(*STAFF)],
    responses={**error_responses(404), 200: {"content": {"text/event-stream": {}}}},
    response_class=StreamingResponse,
)
async def live_stream(
    request: Request,
    pool: Pool,
    read_pool: ReadPool,
    # A station id's shape: a NUL would reach PostgreSQL as its 500, not the caller's 422.
    station: Annotated[str | None, Query(pattern=STATION_ID)] = None,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
) -> StreamingResponse:
    """New readings, station status changes and incident changes as they are stored; reconnect
    with Last-Event-ID to get what was missed (read from the database)."""
    if station is not None:
        async with pool.connection() as conn:
            if not await stations_queries.exists(conn, station):
                raise NotFoundError(f"station inconnue : {station}")
    cursor = await live.start_cursor(pool, last_event_id)
    hub: live.LiveHub = request.app.state.live
    return StreamingResponse(
        # Resumed with Last-Event-ID: the backlog from the read replica (when there is one).
        live.stream(pool, hub, cursor, station, catch_up=read_pool if last_event_id else None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
