"""Admin pages of the wildlife cameras (issue 11 §2): the list with each camera's health, the
form that adds one, and one camera's page where masks are drawn on its current view.

The pages call the API's own handlers (api.routes.cameras): the same URL checks (scheme of the
kind, no internal address unless the site allows it), the same mask validation, the same
NOTIFY that makes the running worker apply new masks without a restart. Role: admin."""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.auth import Principal, Role, require_page
from api.deps import Pool, SettingsDep
from api.forms import Form, read_form
from api.queries import camera_health as camera_health_queries
from api.queries import cameras as camera_queries
from api.routes import cameras as camera_api
from api.schemas.cameras import CameraIn, CameraPatch
from api.schemas.deployments import CAMERA_ID
from api.web import admin_forms as af
from api.web.templates import PagesDep
from vigie.errors import NotFoundError, ValidationFailed
from vigie.settings import Settings

router = APIRouter(prefix="/admin/cameras", tags=["pages"], include_in_schema=False)
Admin = Annotated[Principal, require_page(Role.ADMIN)]
CameraId = Annotated[str, Path(pattern=CAMERA_ID)]

KINDS = [
    ("rtsp", "RTSP (rtsp://, rtsps://)"),
    ("mjpeg", "MJPEG (http://, https://)"),
    ("snapshot", "Image fixe relue (http://, https://)"),
]
STATE_FR: dict[str | None, tuple[str, str]] = {
    "online": ("en ligne", "ok"),
    "starting": ("démarrage", "neutral"),
    "lost": ("perdue", "off"),
    "error": ("en erreur", "off"),
    "stopped": ("arrêtée", "neutral"),
    None: ("jamais vue", "neutral"),
}
_FIELDS = ("id", "name", "source_kind", "source_url", "retention_days", "snapshot_interval_s")


def _state(health: dict[str, Any] | None, enabled: bool) -> tuple[str, str]:
    if not enabled:
        return ("désactivée", "off")
    return STATE_FR.get(health["state"] if health else None, STATE_FR[None])


def _mib(n: int) -> str:
    return f"{n / 1024**2:.1f}".replace(".", ",") + " Mio"


async def _list_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    async with pool.connection() as conn:
        rows = await camera_queries.all_cameras(conn)
        health = await camera_health_queries.health_of_all(conn)
    for r in rows:
        h = health.get(r["id"])
        r["state_fr"], r["state_kind"] = _state(h, r["enabled"])
        r["health"] = h
        r["disk_fr"] = _mib(int(h["disk_used_bytes"]) if h else 0)
    return pages.render(
        request,
        "admin_cameras.html",
        principal,
        status=status,
        cameras=rows,
        kinds=KINDS,
        error=error,
        errors=errors or {},
        form=form or {"source_kind": "rtsp", "retention_days": "30", "snapshot_interval_s": "2"},
    )


@router.get("")
async def cameras_page(request: Request, pages: PagesDep, pool: Pool, principal: Admin) -> Response:
    """Every camera with its state, frame rate, last frame and disk used; the form to add one."""
    return await _list_page(request, pages, pool, principal)


def _create_body(values: dict[str, str]) -> dict[str, Any]:
    return af.without_blanks(
        {
            "id": af.text(values["id"]),
            "name": af.text(values["name"]),
            "source_kind": af.text(values["source_kind"]),
            # As typed: a space or a control character is the check's to refuse, not ours to trim.
            "source_url": values["source_url"] or None,
            "retention_days": af.integer(values["retention_days"]),
            "snapshot_interval_s": af.number(values["snapshot_interval_s"]),
        }
    )


@router.post("")
async def create_camera(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Admin
) -> Response:
    """Add a camera; each refused field says why beside itself, and what was typed stays."""
    form = await read_form(request)
    values = {k: form.get(k) for k in _FIELDS}
    body = _create_body(values)
    again = functools.partial(_list_page, request, pages, pool, principal, form=values)
    errors = camera_api.camera_errors(CameraIn, body, settings)
    if errors:
        sentence = "La caméra n'a pas été ajoutée : corrigez les champs signalés."
        return await again(status=422, errors=errors, error=sentence)
    try:
        created = await camera_api.create_camera(pool, settings, body)
    except af.HANDLER_ERRORS as exc:
        return await again(status=af.error_status(exc), error=af.error_text(exc))
    await af.record(
        pool, principal, "camera.created", f"/admin/cameras/{created.id}", {"kind": created.source_kind}
    )
    return af.see(f"/admin/cameras/{created.id}", "camera")


async def _camera_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: Settings,
    principal: Principal,
    camera_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    masks_json: str | None = None,
) -> Response:
    try:
        cam = await camera_api.get_camera(pool, camera_id)
        health = await camera_api.camera_health(pool, settings, camera_id)
    except NotFoundError:
        return af.not_found(request, pages, principal, f"La caméra « {camera_id} »", "/admin/cameras")
    shown = form or {
        "name": cam.name,
        "retention_days": str(cam.retention_days),
        "snapshot_interval_s": f"{cam.snapshot_interval_s:g}".replace(".", ","),
        "source_kind": cam.source_kind,
        "source_url": "",
    }
    stored = json.dumps([{"points": [list(p) for p in m.points]} for m in cam.masks])
    state_fr, state_kind = _state({"state": health.state}, cam.enabled)
    return pages.render(
        request,
        "admin_camera.html",
        principal,
        status=status,
        camera=cam,
        health=health,
        state_fr=state_fr,
        state_kind=state_kind,
        disk_fr=_mib(health.disk_used_bytes),
        kinds=KINDS,
        error=error,
        errors=errors or {},
        form=shown,
        masks_json=masks_json if masks_json is not None else stored,
    )


@router.get("/{camera_id}")
async def camera_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Admin,
    camera_id: CameraId,
) -> Response:
    """One camera: its health, its current view with the masks to draw, its settings."""
    return await _camera_page(request, pages, pool, settings, principal, camera_id)


def _patch_body(form: Form) -> tuple[dict[str, str], dict[str, Any]]:
    values = {
        k: form.get(k) for k in ("name", "retention_days", "snapshot_interval_s", "source_kind", "source_url")
    }
    body: dict[str, Any] = af.without_blanks(
        {
            "name": af.text(values["name"]),
            "retention_days": af.integer(values["retention_days"]),
            "snapshot_interval_s": af.number(values["snapshot_interval_s"]),
            "enabled": form.get("enabled") == "oui",
        }
    )
    if values["source_url"]:  # left empty: the stored URL (and its password) stays
        body["source_url"] = values["source_url"]
        body["source_kind"] = af.text(values["source_kind"])
    return values, body


@router.post("/{camera_id}")
async def update_camera(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Admin,
    camera_id: CameraId,
) -> Response:
    """Change a camera's name, stream, retention or state."""
    values, body = _patch_body(await read_form(request))
    again = functools.partial(_camera_page, request, pages, pool, settings, principal, camera_id, form=values)
    errors = camera_api.camera_errors(CameraPatch, body, settings)
    if errors:
        sentence = "La caméra n'a pas été modifiée : corrigez les champs signalés."
        return await again(status=422, errors=errors, error=sentence)
    try:
        await camera_api.change_camera(pool, settings, camera_id, body)
    except af.HANDLER_ERRORS as exc:
        return await again(status=af.error_status(exc), error=af.error_text(exc))
    await af.record(
        pool, principal, "camera.changed", f"/admin/cameras/{camera_id}", {"champs": sorted(body)}
    )
    return af.see(f"/admin/cameras/{camera_id}", "camera")


@router.post("/{camera_id}/masques")
async def save_masks(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Admin,
    camera_id: CameraId,
) -> Response:
    """Store the masks drawn on the view (the form's `masks` field, JSON); the worker applies
    them without restarting."""
    raw = (await read_form(request)).get("masks")
    try:
        masks = json.loads(raw) if raw.strip() else []
    except ValueError:
        masks = None
    try:
        if not isinstance(masks, list):
            raise ValidationFailed("masques refusés : liste de polygones illisible")
        saved = await camera_api.replace_masks(pool, camera_id, {"masks": masks})
    except af.HANDLER_ERRORS as exc:
        again = functools.partial(_camera_page, request, pages, pool, settings, principal, camera_id)
        return await again(status=af.error_status(exc), error=af.error_text(exc), masks_json=raw)
    await af.record(
        pool, principal, "camera.masks", f"/admin/cameras/{camera_id}", {"masques": len(saved.masks)}
    )
    return af.see(f"/admin/cameras/{camera_id}", "masques")
