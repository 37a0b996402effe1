"""An event's files: the clip (HTTP Range), the snapshot, the thumbnail and the poster frame.

The event id resolves to the paths the camera worker stored; nothing of the request becomes a
path. A stored path that leaves the media directory is refused as if the file were missing.
Pictures the worker did not write (the poster always; a snapshot or thumbnail lost to an
encoder error) are made from the clip on first request and cached beside it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import blur, frames, media_files
from api.auth import Principal, require
from api.deps import Pool, SettingsDep
from api.queries import camera_events
from api.queries import camtrap as camtrap_queries
from api.route_roles import PEOPLE_SEE, REVIEW_READ
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from vigie.errors import NotFoundError
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/api/v1/events", tags=["review"], route_class=VigieRoute)

EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
READ = require(*REVIEW_READ)
Reader = Annotated[Principal, READ]
MISSING = "média introuvable pour cet événement"


def _binary(media_type: str, *, ranges: bool) -> dict[int | str, dict[str, Any]]:
    headers = {
        "ETag": {"schema": {"type": "string"}, "description": "validateur du fichier"},
        "Cache-Control": {"schema": {"type": "string"}},
    }
    described: dict[int | str, dict[str, Any]] = {
        200: {
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            "headers": headers,
        },
        304: {"description": "inchangé depuis If-None-Match"},
        **error_responses(404),
    }
    if ranges:
        described[206] = {
            "description": "la plage demandée (Range)",
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            "headers": headers | {"Content-Range": {"schema": {"type": "string"}}},
        }
        described[416] = {
            "description": "plage invalide ou hors du fichier",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
            "headers": {"Content-Range": {"schema": {"type": "string"}}},
        }
    return described


def _offset(start: datetime | None, at: datetime | None) -> float:
    if start is None or at is None:
        return 0.0
    return max(0.0, (at - start).total_seconds())


async def _paths(pool: Pool, event_id: int, principal: Principal) -> camera_events.MediaPaths:
    # A viewer gets 404 for the media of an event with a person, as for an unknown event.
    async with pool.connection() as conn:
        return await camera_events.media_paths(
            conn, event_id, hide_people=not principal.holds(*PEOPLE_SEE)
        )


async def _picture(
    request: Request,
    media_dir: FsPath,
    stored: str | None,
    clip: str | None,
    suffix: str,
    seconds: float,
    width: int | None,
) -> Response:
    found = media_files.inside(media_dir, stored)
    if found is not None:
        return media_files.serve(request, found, "image/jpeg", ranges=False)
    clip_path = media_files.inside(media_dir, clip)
    if clip_path is None:
        raise NotFoundError(MISSING)
    target = clip_path.with_name(clip_path.stem + suffix)
    if not target.is_file():
        data = await run_in_threadpool(frames.still, clip_path, target, seconds, width=width)
        if data is None:
            raise NotFoundError("image impossible à extraire du clip de cet événement")
        if not target.is_file():  # not cached (read-only media directory): send it as made
            return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
    return media_files.serve(request, target, "image/jpeg", ranges=False)


@router.get(
    "/{event_id}/clip",
    response_class=Response,
    responses=_binary("video/mp4", ranges=True),
)
async def clip(
    request: Request, pool: Pool, settings: SettingsDep, principal: Reader, event_id: EventId
) -> Response:
    """The clip, MP4 (H.264); one byte range per request (start, middle or suffix)."""
    paths = await _paths(pool, event_id, principal)
    found = media_files.inside(settings.camera.media_dir, paths.clip)
    if found is None:
        raise NotFoundError(MISSING)
    return media_files.serve(request, found, "video/mp4", ranges=True)


@router.get(
    "/{event_id}/snapshot",
    response_class=Response,
    responses=_binary("image/jpeg", ranges=False),
)
async def snapshot(
    request: Request, pool: Pool, settings: SettingsDep, principal: Reader, event_id: EventId
) -> Response:
    """The picture at the motion's peak (made from the clip if the worker wrote none)."""
    p = await _paths(pool, event_id, principal)
    return await _picture(
        request,
        settings.camera.media_dir,
        p.snapshot,
        p.clip,
        ".jpg",
        _offset(p.clip_start_ts, p.peak_ts),
        None,
    )


@router.get(
    "/{event_id}/thumbnail",
    response_class=Response,
    responses=_binary("image/jpeg", ranges=False),
)
async def thumbnail(
    request: Request, pool: Pool, settings: SettingsDep, principal: Reader, event_id: EventId
) -> Response:
    """The gallery's small picture (made from the clip if the worker wrote none)."""
    p = await _paths(pool, event_id, principal)
    return await _picture(
        request,
        settings.camera.media_dir,
        p.thumbnail,
        p.clip,
        ".thumb.jpg",
        _offset(p.clip_start_ts, p.peak_ts),
        frames.THUMBNAIL_WIDTH,
    )


@router.get(
    "/{event_id}/poster",
    response_class=Response,
    responses=_binary("image/jpeg", ranges=False),
)
async def poster(
    request: Request, pool: Pool, settings: SettingsDep, principal: Reader, event_id: EventId
) -> Response:
    """The video's poster frame: the clip's frame at the motion's peak, full size, made on
    first request and cached beside the clip."""
    p = await _paths(pool, event_id, principal)
    return await _picture(
        request,
        settings.camera.media_dir,
        None,
        p.clip,
        ".poster.jpg",
        _offset(p.clip_start_ts, p.peak_ts),
        None,
    )


@router.get(
    "/{event_id}/blurred-clip",
    dependencies=[require(*PEOPLE_SEE)],
    response_class=Response,
    responses=_binary("video/mp4", ranges=True),
)
async def blurred_clip(request: Request, pool: Pool, settings: SettingsDep, event_id: EventId) -> Response:
    """The clip with the people blurred (the rendition an export with people links to), made
    on first request and cached beside the clip; one byte range per request."""
    async with pool.connection() as conn:
        paths = await camera_events.media_paths(conn, event_id)
        person_boxes, motion_boxes = await camtrap_queries.blur_boxes(conn, event_id)
    found = media_files.inside(settings.camera.media_dir, paths.clip)
    if found is None:
        raise NotFoundError(MISSING)
    made = await run_in_threadpool(blur.make_rendition, found, person_boxes, motion_boxes)
    if made is None:
        raise NotFoundError("version floutée impossible à produire pour ce clip")
    return media_files.serve(request, made, "video/mp4", ranges=True)
