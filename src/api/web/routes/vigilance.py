"""The public vigilance page (no sign-in): each commune's level on a map and in a table, the
open public incidents, the consignes of the communes in alert, the CAP feed, and the residents'
sign-up form (which calls the sign-up API's own handlers, so both follow one flow: docs/signup.md).

It shows nothing private: levels, rain totals per commune and public incidents only."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from api.accounts.roles import Role
from api.auth import Principal, client_ip, require, require_page
from api.deps import Pool, ReadPool, SettingsDep
from api.forms import read_form
from api.queries import incidents as incident_queries
from api.queries import vigilance as vigilance_queries
from api.routes import signup
from api.schemas.vigilance import CommuneVigilance, VigilanceState
from api.web import cookies
from api.web.rate import TokenBuckets
from api.web.templates import PagesDep, level_word
from vigie import instructions_queries
from vigie.communes import OUTLINES_CREDIT, official_communes, outlines_geojson
from vigie.errors import ValidationFailed
from vigie.levels import COLOUR, RANK
from vigie.residents import CONSENT_TEXT
from vigie.settings import Settings

router = APIRouter(tags=["pages"], include_in_schema=False)
Anyone = Annotated[Principal, require_page(Role.PUBLIC)]

PAGE = "/vigilance"
CACHE_S = 5.0  # the page's data is read at most once per 5 s per process, however many readers
NONE_COLOUR = "#e3f1e6"  # "pas d'alerte": the pale green of badge--none
# 2 page loads a second, 30 at once, per address: a person never meets it, a script does.
LIMIT = TokenBuckets(rate=2.0, burst=30)
MAX_OPEN = 200  # open public incidents shown (there are a handful in a real flood)


@dataclass(frozen=True)
class CommuneRow:
    """One commune of the table and the map."""

    insee: str
    name: str
    level: str
    rain_mm: float | None
    gauges: int
    reporting: int
    consigne: str | None


@dataclass(frozen=True)
class Snapshot:
    """What the page shows, read once and shared for CACHE_S."""

    at: datetime
    communes: list[CommuneRow]
    incidents: list[dict[str, Any]]
    names: dict[str, str]


@dataclass
class _Cache:
    value: Snapshot | None = None
    expires: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _levels(incidents: list[dict[str, Any]]) -> dict[str, str]:
    """Each commune's level: the highest of the open public incidents that name it. An exercise
    is not a vigilance: it is listed, marked, but changes no commune's level."""
    out: dict[str, str] = {}
    for i in incidents:
        if i["exercise_id"] is not None:
            continue
        for insee in i["communes"] or ():
            if RANK.get(i["level"], 0) > RANK.get(out.get(insee, "none"), 0):
                out[insee] = i["level"]
    return out


async def _read(pool: Pool) -> Snapshot:
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        _, incidents = await incident_queries.page(
            conn, incident_queries.IncidentFilter(state="open"), full=False, limit=MAX_OPEN, offset=0
        )
        rain = await vigilance_queries.rain_24h_by_commune(conn, now)
        consignes = await instructions_queries.all_communes(conn)
    levels = _levels(incidents)
    rows = []
    for c in official_communes():
        level = levels.get(c.insee, "none")
        text = next((i["text"] for i in consignes.get(c.insee, []) if i["level"] == level), None)
        r = rain.get(c.insee)
        rows.append(
            CommuneRow(
                c.insee,
                c.name,
                level,
                r.max_mm if r else None,
                r.stations if r else 0,
                r.reporting if r else 0,
                text if level != "none" else None,
            )
        )
    names = {c.insee: c.name for c in official_communes()}
    return Snapshot(now, rows, incidents, names)


async def snapshot(request: Request, pool: Pool) -> Snapshot:
    """The cached snapshot, refreshed by one reader when older than CACHE_S. The cache lives on
    the app (not the module), so two apps in one process never share one database's data."""
    cache: _Cache | None = getattr(request.app.state, "vigilance_cache", None)
    if cache is None:
        cache = request.app.state.vigilance_cache = _Cache()
    async with cache.lock:
        if cache.value is None or time.monotonic() >= cache.expires:
            cache.value = await _read(pool)
            cache.expires = time.monotonic() + CACHE_S
        return cache.value


def _limit(request: Request) -> None:
    if not LIMIT.allow(client_ip(request) or "inconnue"):
        raise HTTPException(429, "trop de demandes depuis cette adresse : réessayez dans un instant")


def _render(
    request: Request,
    pages: PagesDep,
    settings: Settings,
    principal: Principal,
    snap: Snapshot,
    *,
    status: int = 200,
    **values: Any,
) -> Response:
    """The page, with the sign-up form's token (a cookie for the anonymous, their session's
    CSRF token for the signed in, which the auth layer checks)."""
    holder = Response()
    token = (
        principal.session.csrf_token
        if principal.session
        else cookies.form_token(request, holder, settings, path=PAGE)
    )
    defaults: dict[str, Any] = {"error": None, "step": "form", "form": {}, "done": None, "request_key": ""}
    page = pages.render(
        request,
        "vigilance.html",
        principal,
        status=status,
        snap=snap,
        alerts=[c for c in snap.communes if c.level != "none"],
        credit=OUTLINES_CREDIT,
        consent_text=CONSENT_TEXT,  # the very wording stored with the consent
        form_token=token,
        **{**defaults, **values},
    )
    for value in holder.headers.getlist("set-cookie"):
        page.headers.append("set-cookie", value)
    return page


@router.get(PAGE)
async def vigilance_page(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: ReadPool, principal: Anyone
) -> Response:
    """The public vigilance page."""
    _limit(request)
    return _render(request, pages, settings, principal, await snapshot(request, pool))


@router.get(PAGE + "/etat.json", dependencies=[require(Role.PUBLIC)])
async def vigilance_state(request: Request, pool: ReadPool) -> VigilanceState:
    """The map's data: each commune's level (with its word and colour) and 24 h rain."""
    _limit(request)
    snap = await snapshot(request, pool)
    return VigilanceState(
        at=snap.at,
        communes=[
            CommuneVigilance(
                insee=c.insee,
                name=c.name,
                level=c.level,
                level_word=level_word(c.level),
                colour=COLOUR.get(c.level, NONE_COLOUR),
                rain_24h_max_mm=c.rain_mm,
                gauges_reporting=c.reporting,
            )
            for c in snap.communes
        ],
    )


@router.get(PAGE + "/contours.geojson", dependencies=[require(Role.PUBLIC)])
async def outlines() -> JSONResponse:
    """The communes' outlines (IGN Admin Express COG 2018, Licence Ouverte): they change with
    the official geography only, so browsers keep them a day."""
    return JSONResponse(
        outlines_geojson(),
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _refusal(exc: ValidationFailed | HTTPException) -> dict[str, Any]:
    """The API handler's refusal as the page shows it: its status and its French sentence."""
    text = str(exc.detail if isinstance(exc, HTTPException) else exc)
    status = exc.status_code if isinstance(exc, HTTPException) else 422
    return {"status": status, "error": text[:1].upper() + text[1:] + "."}


@router.post(PAGE + "/inscription")
async def signup_form(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: Pool, principal: Anyone
) -> Response:
    """The sign-up form: the API's sign-up handler (limits, code by SMS or link by e-mail)."""
    form = await read_form(request)
    kept = {k: form.get(k)[:254] for k in ("commune", "min_level", "phone", "email")}
    kept["exercises"] = "1" if form.get("exercises") else ""
    reply = functools.partial(_render, request, pages, settings, principal, await snapshot(request, pool))
    if not principal.signed_in and not cookies.form_token_ok(request, form.get("csrf_token")):
        error = "Le formulaire a expiré : envoyez-le à nouveau."
        return reply(status=403, error=error, form=kept)
    if not form.get("consent"):
        error = "Cochez la case de consentement pour recevoir les alertes."
        return reply(status=422, error=error, form=kept)
    body: dict[str, Any] = {
        "commune": kept["commune"],
        "min_level": kept["min_level"] or "yellow",
        "exercises": bool(kept["exercises"]),
        "consent": True,
    }
    # One address: the API refuses both or neither with its own message.
    for name in ("phone", "email"):
        if kept[name].strip():
            body[name] = kept[name]
    try:
        accepted = await signup.sign_up(pool, settings, request, body)
    except (ValidationFailed, HTTPException) as exc:
        return reply(**_refusal(exc), form=kept)
    if accepted.channel == "sms":
        return reply(step="code", request_key=accepted.request)
    return reply(
        done="Un lien de confirmation vous a été envoyé par e-mail : ouvrez-le pour terminer l'inscription.",
    )


@router.post(PAGE + "/inscription/code")
async def signup_code(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: Pool, principal: Anyone
) -> Response:
    """The SMS code step: the API's confirmation handler."""
    form = await read_form(request)
    key, code = form.get("request")[:100], form.get("code").strip()[:20]
    reply = functools.partial(_render, request, pages, settings, principal, await snapshot(request, pool))
    if not principal.signed_in and not cookies.form_token_ok(request, form.get("csrf_token")):
        error = "Le formulaire a expiré : recommencez l'inscription."
        return reply(status=403, error=error)
    try:
        await signup.confirm(pool, settings, {"request": key, "code": code})
    except (ValidationFailed, HTTPException) as exc:
        return reply(**_refusal(exc), step="code", request_key=key)
    return reply(
        done="Inscription confirmée : vous recevrez les alertes de votre commune."
        " Pour arrêter, répondez STOP.",
    )
