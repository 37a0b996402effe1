"""The Camtrap DP export page (/revue/export): a naturalist chooses a range of days and
deployments, sees what the package will hold (deployments, media, observations, from a count
query, not the export itself), then downloads it from the API's own /api/v1/camtrap-dp.zip with
the same parameters. The range and deployments are checked by the export route's own checks, so
the page refuses exactly what the download would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import Pool, SettingsDep
from api.queries import camtrap as queries
from api.routes import camtrap as camtrap_routes
from api.web import admin_forms as af
from api.web.routes.review import Writer, _day, _day_fr, _local_start
from api.web.templates import PagesDep
from vigie.errors import ValidationFailed
from vigie.ids import BIGINT_MAX

router = APIRouter(tags=["pages"], include_in_schema=False)
MEDIA_CHOICES = {
    "url": "par lien : l'adresse de chaque clip dans Vigie (ouverte une fois connecté)",
    "fichiers": "clips inclus dans le zip (plus lourd)",
}
# The page's word -> the API's media parameter.
MEDIA_PARAM = {"url": "url", "fichiers": "files"}


def _choices(request: Request) -> dict[str, Any]:
    """The form's values as typed (strings, cut to sane lengths)."""
    q = request.query_params
    media = q.get("medias", "url")
    return {
        "du": q.get("du", "")[:10],
        "au": q.get("au", "")[:10],
        "deploiements": [d[:20] for d in q.getlist("deploiement")[: camtrap_routes.MAX_DEPLOYMENTS + 1]],
        "medias": media if media in MEDIA_CHOICES else "url",
        "asked": "voir" in q,
    }


def _deployment_ids(values: list[str]) -> list[int] | None:
    if len(values) > camtrap_routes.MAX_DEPLOYMENTS:
        raise ValidationFailed(f"choisissez au plus {camtrap_routes.MAX_DEPLOYMENTS} déploiements")
    ids = []
    for v in values:
        if not v.isdigit() or not 1 <= int(v) <= BIGINT_MAX:
            raise ValidationFailed("déploiement invalide : rechargez la page")
        ids.append(int(v))
    return ids or None


async def _preview(pool: Pool, c: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """What the export will hold and the download's URL; ValidationFailed in French if refused."""
    du, au = _day(c["du"], "du"), _day(c["au"], "au")
    if du and au and au < du:
        raise ValidationFailed("la date « au » doit être le même jour que « du » ou après")
    for name, day in (("du", du), ("au", au)):
        # The export's own bound (2000-2099), said with the page's words.
        if day is not None and not 2000 <= day.year <= 2099:
            raise ValidationFailed(f"la date « {name} » doit être entre les années 2000 et 2099")
    start = _local_start(du, tz) if du else None
    end = _local_start(au + timedelta(days=1), tz) if au else None
    camtrap_routes.check_range(start, end)
    ids = await camtrap_routes._known(pool, _deployment_ids(c["deploiements"]))
    async with pool.connection() as conn:
        deps = await queries.deployments(conn, start, end, ids)
        if not deps:
            raise ValidationFailed("aucun déploiement ne couvre cette période : élargissez les dates")
        counts = await queries.export_counts(conn, start, end, [int(d["id"]) for d in deps])
    params: list[tuple[str, str]] = []
    if start:
        params.append(("start", start.isoformat()))
    if end:
        params.append(("end", end.isoformat()))
    params += [("deployment", str(d)) for d in ids or []]
    params.append(("media", MEDIA_PARAM[c["medias"]]))
    return {
        "deployments": deps,
        "media": counts["media"],
        "observations": counts["observations"],
        "href": "/api/v1/camtrap-dp.zip?" + urlencode(params),
        "first": _day_fr(du) if du else None,
        "last": _day_fr(au) if au else None,
    }


@router.get("/revue/export")
async def export_page(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Writer
) -> Response:
    """Choose a range and deployments, see the counts, then download the Camtrap DP package."""
    tz = ZoneInfo(settings.timezone)
    c = _choices(request)
    async with pool.connection() as conn:
        every = await queries.deployments(conn, None, None, None)
    preview, error, status = None, None, 200
    if c["asked"]:
        try:
            preview = await _preview(pool, c, tz)
        except af.HANDLER_ERRORS as exc:
            error, status = af.error_text(exc), af.error_status(exc)
    return pages.render(
        request,
        "review_export.html",
        principal,
        status=status,
        error=error,
        c=c,
        every=every,
        preview=preview,
        media_choices=MEDIA_CHOICES,
    )
