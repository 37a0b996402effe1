"""The naturalists' review pages: the gallery (/revue: thumbnails, filters, counts, the month's
calendar, a selection with bulk actions) and the viewer (/revue/evenements/{id}: the clip with
its motion boxes, observations, validation, the caller's review state).

Pages call the review API's own handlers (api.routes.events, api.routes.observations), so a
form is checked exactly as the JSON API checks it; a refusal comes back as the handler's French
sentence on the page. Forms post, then redirect to a page with a fixed ?fait= sentence."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from api import cursor as cursors
from api.accounts.roles import Role
from api.auth import Principal, require_page
from api.deps import Pool, SettingsDep
from api.forms import read_form
from api.queries import camera_health, review_pages
from api.routes import events as event_routes
from api.routes import observations as observation_routes
from api.routes import species_references as reference_routes
from api.schemas.events import EventDetail, EventItem
from api.web import admin_forms as af
from api.web.templates import PagesDep
from vigie import species
from vigie.errors import ValidationFailed
from vigie.ids import BIGINT_MAX

router = APIRouter(tags=["pages"], include_in_schema=False)
# As the API: naturalists and admins review, elected officials (viewer) read.
Reader = Annotated[Principal, require_page(Role.NATURALIST, Role.ADMIN, Role.VIEWER)]
Writer = Annotated[Principal, require_page(Role.NATURALIST, Role.ADMIN)]
EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
ObservationId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
WRITE_ROLES = frozenset({Role.NATURALIST, Role.ADMIN})
PAGE_SIZE = 48
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-\d{2}")

STATUS_WORDS = {"new": "à revoir", "reviewed": "vu", "false_positive": "faux positif"}
STATUS_KIND = {"new": "neutral", "reviewed": "ok", "false_positive": "off"}
SORTS = {  # ?tri= -> (sort, order, words)
    "recent": ("start", "desc", "les plus récents d'abord"),
    "ancien": ("start", "asc", "les plus anciens d'abord"),
    "doute": ("confidence", "asc", "douteux et score faible d'abord"),
}
# The filter's words -> the API's status.
STATUS_PARAM = {"nouveau": "new", "vu": "reviewed", "faux": "false_positive"}
BULK_ACTIONS = {
    "tag": "Noter une espèce",
    "false_positive": "Marquer faux positif",
    "favourite": "Ajouter aux favoris",
    "reviewed": "Marquer comme vu",
    "not_reviewed": "Marquer comme non vu",
    "person": "Signaler une personne (cacher aux lecteurs)",
    "no_person": "Aucune personne (montrer aux lecteurs)",
}
# The viewer's review buttons: form value -> (the API's patch, the ?fait= code).
STATE_ACTIONS: dict[str, tuple[dict[str, bool], str]] = {
    "vu": ({"reviewed": True}, "revue-vu"),
    "pas-vu": ({"reviewed": False}, "revue-pas-vu"),
    "faux-positif": ({"false_positive": True}, "revue-faux-positif"),
    "pas-faux-positif": ({"false_positive": False}, "revue-pas-faux-positif"),
    "favori": ({"favourite": True}, "revue-favori"),
    "pas-favori": ({"favourite": False}, "revue-pas-favori"),
    "personne": ({"person": True}, "revue-personne"),
    "pas-personne": ({"person": False}, "revue-pas-personne"),
}
# Quick species (keys 1-9) before a naturalist has tagged nine of their own: the commonest of
# the Oise valleys' camera traps.
DEFAULT_QUICK = (
    "Capreolus capreolus",
    "Sus scrofa",
    "Vulpes vulpes",
    "Meles meles",
    "Lepus europaeus",
    "Sciurus vulgaris",
    "Martes foina",
    "Ardea cinerea",
    "Erinaceus europaeus",
)
_WEEKDAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def _taxon(name: str) -> species.Taxon | None:
    """The taxon a person means: its scientific name, or its French name exactly (accents and
    case ignored): the API takes scientific names, the forms take either."""
    taxon = species.match(name)
    if taxon is None:
        folded = species.fold(name)
        taxon = next((t for t in species.search(name, 10) if species.fold(t.vernacular_name) == folded), None)
    return taxon


def _scientific(name: str) -> str:
    taxon = _taxon(name)
    return taxon.scientific_name if taxon else name


def _may_write(principal: Principal) -> bool:
    return principal.holds(*WRITE_ROLES)


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    if not _DAY.fullmatch(text):
        raise ValidationFailed(f"la date « {name} » doit s'écrire AAAA-MM-JJ")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"la date « {name} » n'existe pas") from None


def _month(text: str, today: date) -> date:
    if _MONTH.fullmatch(text):
        try:
            return date(int(text[:4]), int(text[5:7]), 1)
        except ValueError:
            pass
    return today.replace(day=1)


def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _filters(request: Request) -> dict[str, Any]:
    """The gallery's filters as the form shows them (strings, cut to sane lengths)."""
    q = request.query_params
    return {
        "camera": q.get("camera", "")[:64],
        "deploiement": q.get("deploiement", "")[:20],
        "du": q.get("du", "")[:10],
        "au": q.get("au", "")[:10],
        "statut": q.get("statut", "") if q.get("statut", "") in STATUS_PARAM else "",
        "espece": q.get("espece", "").strip()[:200],
        "favori": "1" if q.get("favori") == "1" else "",
        "moi": "1" if q.get("moi") == "1" else "",
        "tri": q.get("tri", "") if q.get("tri", "") in SORTS else "recent",
    }


async def _list(
    pool: Pool, principal: Principal, f: dict[str, Any], tz: ZoneInfo, cursor: str | None
) -> tuple[Any, str]:
    """One page of the API's list for these filters, and the species name as understood."""
    du, au = _day(f["du"], "du"), _day(f["au"], "au")
    if du and au and au < du:
        raise ValidationFailed("la date « au » doit être le même jour que « du » ou après")
    deployment = None
    if f["deploiement"]:
        if not f["deploiement"].isdigit() or not 1 <= int(f["deploiement"]) <= BIGINT_MAX:
            raise ValidationFailed("le déploiement est un numéro")
        deployment = int(f["deploiement"])
    name = f["espece"]
    taxon = _taxon(name) if name else None
    sort, order, _ = SORTS[f["tri"]]
    page = await event_routes.list_events(
        pool,
        principal,
        camera=[f["camera"]] if f["camera"] else None,
        deployment=deployment,
        start=_local_start(du, tz) if du else None,
        end=_local_start(au + timedelta(days=1), tz) if au else None,
        status=[STATUS_PARAM[f["statut"]]] if f["statut"] else None,  # type: ignore[list-item]
        species_name=[taxon.scientific_name if taxon else name] if name else None,
        favourite=True if f["favori"] else None,
        reviewed_by_me=False if f["moi"] else None,
        sort=sort,  # type: ignore[arg-type]
        order=order,  # type: ignore[arg-type]
        limit=PAGE_SIZE,
        cursor=cursor,
        with_total=True,
    )
    return page, (taxon.scientific_name if taxon else name)


def _calendar(month: date, days: dict[date, dict[str, int]], f: dict[str, Any]) -> dict[str, Any]:
    """The month's weeks (Monday first), each day with its counts and a link to its events."""
    first = month
    following = (first + timedelta(days=32)).replace(day=1)
    weeks: list[list[dict[str, Any] | None]] = []
    week: list[dict[str, Any] | None] = [None] * first.weekday()
    day = first
    while day < following:
        counts = days.get(day, {"total": 0, "new": 0})
        link = {k: v for k, v in f.items() if v and k not in ("du", "au")} | {
            "du": day.isoformat(),
            "au": day.isoformat(),
            "mois": f"{month:%Y-%m}",
        }
        week.append({"day": day, **counts, "href": "/revue?" + urlencode(link)})
        if len(week) == 7:
            weeks.append(week)
            week = []
        day += timedelta(days=1)
    if week:
        weeks.append(week + [None] * (7 - len(week)))
    previous = (first - timedelta(days=1)).replace(day=1)
    keep = {k: v for k, v in f.items() if v}
    return {
        "title": f"{_MONTHS[month.month - 1]} {month.year}",
        "weekdays": _WEEKDAYS,
        "weeks": weeks,
        "previous": "/revue?" + urlencode(keep | {"mois": f"{previous:%Y-%m}"}),
        "next": "/revue?" + urlencode(keep | {"mois": f"{following:%Y-%m}"}),
        "previous_label": f"{_MONTHS[previous.month - 1]} {previous.year}",
        "next_label": f"{_MONTHS[following.month - 1]} {following.year}",
        "new_total": sum(d["new"] for d in days.values()),
    }


async def _gallery(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    tz = ZoneInfo(settings.timezone)
    f = _filters(request)
    cursor = request.query_params.get("curseur", "")[: cursors.MAX_CURSOR_CHARS] or None
    today = datetime.now(tz).date()
    month = _month(request.query_params.get("mois", ""), today)
    page = None
    wanted = ""
    try:
        page, wanted = await _list(pool, principal, f, tz, cursor)
    except af.HANDLER_ERRORS as exc:
        error, status = af.error_text(exc), af.error_status(exc)
    following = (month + timedelta(days=32)).replace(day=1)
    async with pool.connection() as conn:
        days = await review_pages.month_days(
            conn,
            _local_start(month, tz),
            _local_start(following, tz),
            settings.timezone,
            hide_people=event_routes.hides_people(principal),
        )
        cameras = [c["camera_id"] for c in await camera_health.all_cameras(conn)]
    keep = {k: v for k, v in f.items() if v}
    next_href = (
        "/revue?" + urlencode(keep | {"curseur": page.next_cursor, "mois": f"{month:%Y-%m}"})
        if page is not None and page.next_cursor
        else None
    )
    return pages.render(
        request,
        "review_gallery.html",
        principal,
        status=status,
        error=error,
        f=f,
        page=page,
        items=page.items if page is not None else [],
        wanted=wanted,
        known_species=bool(wanted) and _taxon(wanted) is not None,
        cameras=cameras,
        sorts=SORTS,
        status_words=STATUS_WORDS,
        status_kind=STATUS_KIND,
        bulk_actions=BULK_ACTIONS,
        calendar=_calendar(month, days, f),
        first_page=cursor is None,
        first_href="/revue?" + urlencode(keep),
        next_href=next_href,
        back=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
        may_write=_may_write(principal),
        taxa=species.load(),
        names=defaultdict(str, {t.scientific_name: t.vernacular_name for t in species.load()}),
    )


@router.get("/revue")
async def gallery(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Reader
) -> Response:
    """The events as thumbnails, filtered, newest first (or doubtful first), with the month's
    calendar of events still to review."""
    return await _gallery(request, pages, pool, settings, principal)


def _back(value: str) -> str:
    """Where a form returns: a gallery or viewer page of ours only (never another site)."""
    return value if re.fullmatch(r"/revue(/evenements/\d{1,19})?(\?[^\s\\]*)?", value) else "/revue"


def _with_flash(url: str, code: str) -> str:
    url = re.sub(r"([?&])fait=[^&]*&?", r"\1", url).rstrip("?&")
    return url + ("&" if "?" in url else "?") + "fait=" + code


@router.post("/revue/lot")
async def bulk_action(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Writer,
) -> Response:
    """An action over the tiles ticked in the gallery, through the API's bulk handler."""
    form = await read_form(request)
    back = _back(form.get("retour"))
    action = form.get("action")
    body: dict[str, Any] = {"ids": [], "action": action}
    try:
        if action not in BULK_ACTIONS:
            raise ValidationFailed("action inconnue : choisissez-en une dans la liste")
        ids = form.getall("ids")
        if not ids:
            raise ValidationFailed("aucun événement choisi : cochez-en au moins un")
        if not all(i.isdigit() and len(i) <= 19 for i in ids):
            raise ValidationFailed("sélection invalide : rechargez la page")
        body["ids"] = [int(i) for i in ids]
        if action == "tag":
            name = form.get("scientific_name").strip()
            if not name:
                raise ValidationFailed("espèce : choisissez une espèce à noter")
            body["scientific_name"] = _scientific(name)
        result = await event_routes.bulk(pool, settings, principal, body)
    except af.HANDLER_ERRORS as exc:
        request.scope["query_string"] = back.partition("?")[2].encode()
        return await _gallery(
            request, pages, pool, settings, principal, status=af.error_status(exc), error=af.error_text(exc)
        )
    code = "revue-lot-nom-libre" if result.warnings else "revue-lot"
    return RedirectResponse(_with_flash(back, code), status_code=303)


async def _neighbours(pool: Pool, principal: Principal, item: EventItem) -> tuple[int | None, int | None]:
    """(the next event: older, the previous one: newer), in the gallery's default order."""
    found: list[int | None] = []
    for order in ("desc", "asc"):
        after = cursors.encode(cursors.Cursor("start", order, item.start_ts.isoformat(), item.id))
        page = await event_routes.list_events(
            pool, principal, sort="start", order=order, limit=1, cursor=after
        )
        found.append(page.items[0].id if page.items else None)
    return found[0], found[1]


async def _quick(pool: Pool, principal: Principal) -> list[species.Taxon]:
    """Keys 1-9: the species this person tagged last, then the commonest ones."""
    async with pool.connection() as conn:
        mine = await review_pages.recent_species(conn, event_routes.user_id(principal))
    names: list[str] = []
    for name in [*mine, *DEFAULT_QUICK]:
        if name not in names and species.lookup(name) is not None:
            names.append(name)
    return [t for t in (species.lookup(n) for n in names[:9]) if t is not None]


async def _viewer(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    event_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    event: EventDetail = await event_routes.get_event(pool, principal, event_id)
    older, newer = await _neighbours(pool, principal, event)
    boxes = [b.model_dump() for b in event.boxes]
    bboxes = [
        {
            "x": o.bbox.x,
            "y": o.bbox.y,
            "w": o.bbox.w,
            "h": o.bbox.h,
            "label": o.vernacular_name or o.scientific_name or "",
            "from": o.event_start_s,
            "to": o.event_end_s,
        }
        for o in event.observations
        if o.bbox is not None
    ]
    names = sorted(
        {o.scientific_name for o in event.observations if o.scientific_name and o.status != "rejected"}
    )
    references = (
        {r.scientific_name: r for r in await reference_routes.list_references(pool, principal, names)}
        if names
        else {}
    )
    return pages.render(
        request,
        "review_event.html",
        principal,
        status=status,
        error=error,
        event=event,
        references=references,
        boxes=boxes,
        bboxes=bboxes,
        older=older,
        newer=newer,
        quick=await _quick(pool, principal) if _may_write(principal) else [],
        status_words=STATUS_WORDS,
        status_kind=STATUS_KIND,
        may_write=_may_write(principal),
        me=principal.actor.id,
    )


@router.get("/revue/evenements/{event_id}")
async def event_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Reader, event_id: EventId
) -> Response:
    """One event: the clip with its motion boxes, its observations, and the review buttons."""
    return await _viewer(request, pages, pool, principal, event_id)


async def _after(
    request: Request, pages: PagesDep, pool: Pool, principal: Principal, event_id: int, exc: Exception
) -> Response:
    return await _viewer(
        request, pages, pool, principal, event_id, status=af.error_status(exc), error=af.error_text(exc)
    )


@router.post("/revue/evenements/{event_id}/etat")
async def event_state(
    request: Request, pages: PagesDep, pool: Pool, principal: Writer, event_id: EventId
) -> Response:
    """Seen, not seen, false positive (or not), favourite (or not): the caller's review state."""
    form = await read_form(request)
    choice = STATE_ACTIONS.get(form.get("action"))
    try:
        if choice is None:
            raise ValidationFailed("action inconnue")
        await event_routes.patch_event(pool, principal, event_id, choice[0])
    except af.HANDLER_ERRORS as exc:
        return await _after(request, pages, pool, principal, event_id, exc)
    target = f"/revue/evenements/{event_id}"
    nxt = form.get("suivant")
    if nxt.isdigit() and len(nxt) <= 19:
        target = f"/revue/evenements/{int(nxt)}"
    return RedirectResponse(f"{target}?fait={choice[1]}", status_code=303)


@router.post("/revue/evenements/{event_id}/observations")
async def add_observation(
    request: Request, pages: PagesDep, pool: Pool, principal: Writer, event_id: EventId
) -> Response:
    """A new observation (species of the list, or a free name kept with a warning)."""
    form = await read_form(request)
    body: dict[str, Any] = {"scientific_name": _scientific(form.get("scientific_name").strip()) or None}
    count = form.get("count").strip()
    comments = form.get("comments").strip()
    try:
        if count:
            if not count.isdigit() or len(count) > 6:
                raise ValidationFailed("nombre : un entier de 1 à 10 000")
            body["count"] = int(count)
        if comments:
            body["comments"] = comments
        if body["scientific_name"] is None:
            raise ValidationFailed("espèce : choisissez une espèce ou écrivez un nom")
        obs = await observation_routes.create_observation(pool, principal, event_id, body)
        # Saying what one saw is having reviewed it (the gallery's "vu par vous" follows).
        await event_routes.patch_event(pool, principal, event_id, {"reviewed": True})
    except af.HANDLER_ERRORS as exc:
        return await _after(request, pages, pool, principal, event_id, exc)
    code = "revue-observation-nom-libre" if obs.warnings else "revue-observation"
    return RedirectResponse(f"/revue/evenements/{event_id}?fait={code}", status_code=303)


@router.post("/revue/evenements/{event_id}/reference")
async def choose_reference(
    request: Request, pages: PagesDep, pool: Pool, principal: Writer, event_id: EventId
) -> Response:
    """This clip's frame at the time shown (the form's t, set from the video) becomes the
    species' reference picture, through the API's handler."""
    form = await read_form(request)
    try:
        t = float(form.get("t").strip().replace(",", ".") or "0")
    except ValueError:
        t = -1.0
    try:
        if not 0 <= t <= 86400:
            raise ValidationFailed("image de référence refusée : le moment du clip est invalide")
        body = {"scientific_name": form.get("scientific_name").strip(), "event_id": event_id, "t": t}
        await reference_routes.choose_reference(pool, principal, body)
    except af.HANDLER_ERRORS as exc:
        return await _after(request, pages, pool, principal, event_id, exc)
    return RedirectResponse(f"/revue/evenements/{event_id}?fait=revue-reference", status_code=303)


@router.post("/revue/observations/{observation_id}/validation")
async def validate(
    request: Request, pages: PagesDep, pool: Pool, principal: Writer, observation_id: ObservationId
) -> Response:
    """A second naturalist confirms or rejects an observation."""
    form = await read_form(request)
    event_id = form.get("evenement")
    back = int(event_id) if event_id.isdigit() and len(event_id) <= 19 else None
    decision = form.get("decision")
    body: dict[str, Any] = {"decision": decision}
    comment = form.get("comment").strip()
    if comment:
        body["comment"] = comment
    try:
        if decision not in ("confirm", "reject"):
            raise ValidationFailed("décision inconnue : confirmer ou rejeter")
        out = await observation_routes.validate_observation(pool, principal, observation_id, body)
    except af.HANDLER_ERRORS as exc:
        if back is None:
            raise
        return await _after(request, pages, pool, principal, back, exc)
    code = "revue-validee" if decision == "confirm" else "revue-rejetee"
    return RedirectResponse(f"/revue/evenements/{out.observation.event_id}?fait={code}", status_code=303)


STATS_DAYS = {"7j": 7, "30j": 30, "90j": 90, "365j": 365}


@router.get("/revue/statistiques")
async def statistics(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Reader
) -> Response:
    """Events per day with the share reviewed, and the counts per species, over the last days."""
    tz = ZoneInfo(settings.timezone)
    key = request.query_params.get("periode", "30j")
    key = key if key in STATS_DAYS else "30j"
    today = datetime.now(tz).date()
    first = today - timedelta(days=STATS_DAYS[key] - 1)
    start, end = _local_start(first, tz), _local_start(today + timedelta(days=1), tz)
    async with pool.connection() as conn:
        hide = event_routes.hides_people(principal)
        days = await review_pages.daily_counts(conn, start, end, settings.timezone, hide_people=hide)
        taxa = await review_pages.species_counts(conn, start, end, hide_people=hide)
    total = sum(int(d["total"]) for d in days)
    judged = sum(int(d["reviewed"]) + int(d["false_positive"]) for d in days)
    return pages.render(
        request,
        "review_stats.html",
        principal,
        key=key,
        periods=STATS_DAYS,
        first=_day_fr(first),
        today=_day_fr(today),
        days=[{**d, "label": _day_fr(d["day"])} for d in days],
        total=total,
        judged=judged,
        share=round(100 * judged / total) if total else None,
        false_positives=sum(int(d["false_positive"]) for d in days),
        taxa=[{**t, "vernacular": _vernacular(t["scientific_name"])} for t in taxa],
        may_write=_may_write(principal),
    )


def _vernacular(name: str) -> str:
    taxon = species.lookup(name)
    return taxon.vernacular_name if taxon else ""


def _day_fr(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
