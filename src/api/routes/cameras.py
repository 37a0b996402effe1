"""Cameras (issue 11 §1): admins create, change and delete them and draw their detection masks;
the review's readers (naturalists, officials) see them, their health and their current view.

The stream URL is checked by vigie.camera_urls with the site's outbound settings, as the worker
checks it again at each connection; it is stored as given and shown with its password masked.
The handlers below are also what the admin pages call (api.web.routes.admin_cameras).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import ValidationError

from api import media_files
from api.auth import audited, require
from api.deps import Pool, SettingsDep
from api.openapi import json_body
from api.queries import camera_health as camera_health_queries
from api.queries import cameras
from api.route_roles import CAMERAS_READ, CAMERAS_WRITE
from api.routes._common import VigieRoute
from api.schemas.cameras import (
    CameraHealth,
    CameraIn,
    CameraLinks,
    CameraList,
    CameraOut,
    CameraPatch,
    MasksIn,
    MasksOut,
)
from api.schemas.deployments import CAMERA_ID
from api.schemas.errors import error_responses
from api.validation import describe, reasons_by_field
from vigie.camera_view import view_path, view_relative
from vigie.errors import NotFoundError, ValidationFailed
from vigie.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"], route_class=VigieRoute)

CameraId = Annotated[str, Path(pattern=CAMERA_ID)]
READ = require(*CAMERAS_READ)
WRITE = require(*CAMERAS_WRITE)
NO_VIEW = (
    "aucune vue actuelle pour cette caméra : le service caméra n'en a pas encore reçu d'image"
    " (caméra arrêtée, injoignable ou tout juste ajoutée)"
)


def _context(settings: Settings) -> dict[str, Any]:
    out = settings.outbound
    return {"allow_private": out.allow_private, "allowed_networks": out.allowed_networks}


def camera_errors(model: type[CameraIn] | type[CameraPatch], body: Any, settings: Settings) -> dict[str, str]:
    """What is wrong with a camera body, per field, in French ({} when it is valid): the page
    shows each reason beside its field."""
    try:
        model.model_validate(body, context=_context(settings))
    except ValidationError as exc:
        return reasons_by_field(exc.errors(include_url=False))
    return {}


def _parse(model: type[Any], body: Any, settings: Settings) -> Any:
    try:
        return model.model_validate(body, context=_context(settings))
    except ValidationError as exc:
        raise ValidationFailed(describe(exc.errors(include_url=False), "caméra refusée")) from None


def _out(row: dict[str, Any]) -> CameraOut:
    base = f"/api/v1/cameras/{row['id']}"
    links = CameraLinks(health=f"{base}/health", snapshot=f"{base}/snapshot.jpg", masks=f"{base}/masks")
    return CameraOut.model_validate({**row, "links": links})


@router.get("", dependencies=[READ])
async def list_cameras(pool: Pool) -> CameraList:
    """Every camera, by id (URLs with their password masked)."""
    async with pool.connection() as conn:
        rows = await cameras.all_cameras(conn)
    return CameraList(items=[_out(r) for r in rows])


@router.get("/{camera_id}", dependencies=[READ], responses=error_responses(404))
async def get_camera(pool: Pool, camera_id: CameraId) -> CameraOut:
    """One camera."""
    async with pool.connection() as conn:
        return _out(await cameras.get(conn, camera_id))


async def create_camera(pool: Pool, settings: Settings, body: Any) -> CameraOut:
    """Check and insert a camera (the API's and the admin page's way)."""
    new = _parse(CameraIn, body, settings)
    async with pool.connection() as conn:
        row = await cameras.create(conn, new.model_dump())
    log.info("caméra %s créée (%s)", new.id, new.source_kind)
    return _out(row)


@router.post(
    "",
    status_code=201,
    dependencies=[WRITE, audited("camera.created")],
    responses=error_responses(409, 422),
    openapi_extra=json_body(CameraIn),
)
async def post_camera(pool: Pool, settings: SettingsDep, body: Annotated[Any, Body()]) -> CameraOut:
    """Create a camera; the URL's scheme must fit its kind and its host must not be internal
    (unless the site allows it); 409 if the id is taken."""
    return await create_camera(pool, settings, body)


async def change_camera(pool: Pool, settings: Settings, camera_id: str, body: Any) -> CameraOut:
    """Check and apply a change to a camera (the API's and the admin page's way)."""
    change = _parse(CameraPatch, body, settings)
    values = change.model_dump(exclude_none=True)
    async with pool.connection() as conn:
        if not values:
            return _out(await cameras.get(conn, camera_id))
        return _out(await cameras.update(conn, camera_id, values))


@router.patch(
    "/{camera_id}",
    dependencies=[WRITE, audited("camera.changed")],
    responses=error_responses(404, 422),
    openapi_extra=json_body(CameraPatch),
)
async def patch_camera(
    pool: Pool, settings: SettingsDep, camera_id: CameraId, body: Annotated[Any, Body()]
) -> CameraOut:
    """Change the given fields; an omitted source_url keeps the stored one (and its password)."""
    return await change_camera(pool, settings, camera_id, body)


@router.delete(
    "/{camera_id}",
    status_code=204,
    dependencies=[WRITE, audited("camera.deleted")],
    responses=error_responses(404, 409),
)
async def delete_camera(pool: Pool, camera_id: CameraId) -> None:
    """Delete a camera that recorded nothing; 409 if it has events or deployments."""
    async with pool.connection() as conn:
        await cameras.delete(conn, camera_id)


@router.get("/{camera_id}/health", dependencies=[READ], responses=error_responses(404))
async def camera_health(pool: Pool, settings: SettingsDep, camera_id: CameraId) -> CameraHealth:
    """What the worker last reported (fps, dropped frames, last frame, reconnects) and the disk
    used by the camera's clips."""
    async with pool.connection() as conn:
        row = await camera_health_queries.health(conn, camera_id)
    try:
        mtime = view_path(settings.camera.media_dir, camera_id).stat().st_mtime
        view_at: datetime | None = datetime.fromtimestamp(mtime, UTC)
    except OSError:
        view_at = None
    return CameraHealth.model_validate({**row, "view_at": view_at})


@router.get(
    "/{camera_id}/snapshot.jpg",
    dependencies=[READ],
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "inchangée depuis If-None-Match"},
        **error_responses(404),
    },
)
async def current_view(request: Request, pool: Pool, settings: SettingsDep, camera_id: CameraId) -> Response:
    """The camera's current view: its latest frame, downscaled, as the worker last wrote it.
    `Cache-Control: no-cache` with an ETag: a browser asks again and gets 304 while it is the same."""
    async with pool.connection() as conn:
        await cameras.get(conn, camera_id)
    found = media_files.inside(settings.camera.media_dir, view_relative(camera_id))
    if found is None:
        raise NotFoundError(NO_VIEW)
    try:
        return media_files.serve(request, found, "image/jpeg", ranges=False, cache_control="no-cache")
    except NotFoundError:
        raise NotFoundError(NO_VIEW) from None


@router.get("/{camera_id}/masks", dependencies=[READ], responses=error_responses(404))
async def get_masks(pool: Pool, camera_id: CameraId) -> MasksOut:
    """The camera's detection masks."""
    async with pool.connection() as conn:
        row = await cameras.get(conn, camera_id)
    return MasksOut(camera_id=camera_id, masks=row["masks"], updated_at=row["updated_at"])


async def replace_masks(pool: Pool, camera_id: str, body: Any) -> MasksOut:
    """Check and store a camera's masks (the API's and the admin page's way)."""
    try:
        masks = MasksIn.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(describe(exc.errors(include_url=False), "masques refusés")) from None
    stored = [{"points": [list(p) for p in m.points]} for m in masks.masks]
    async with pool.connection() as conn:
        row = await cameras.set_masks(conn, camera_id, stored)
    log.info("caméra %s : %d masque(s) enregistré(s)", camera_id, len(stored))
    return MasksOut.model_validate(row)


@router.put(
    "/{camera_id}/masks",
    dependencies=[WRITE, audited("camera.masks")],
    responses=error_responses(404, 422),
    openapi_extra=json_body(MasksIn),
)
async def put_masks(pool: Pool, camera_id: CameraId, body: Annotated[Any, Body()]) -> MasksOut:
    """Replace the masks (polygons normalised 0..1); the running worker applies them within
    seconds, without restarting."""
    return await replace_masks(pool, camera_id, body)
