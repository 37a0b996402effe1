"""The person on duty's pages ("astreinte"): open incidents with their timelines, the history,
and one incident's page with the rain behind it, the acknowledgement form and the delivery log
(the proof of warning, with its PDF and CSV exports and the hash chain's head).

Officials (viewer) and technicians read these pages as the incidents API lets them (the full
view); only duty and admin acknowledge and read the delivery log, as in the API. The form
calls the API's own acknowledgement handler, so both follow one path (vigie_acknowledge_incident).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api import delivery_proof
from api.accounts import audit
from api.auth import STAFF, Principal, Role, require_page
from api.deps import Pool, SettingsDep
from api.forms import read_form
from api.queries import deliveries
from api.queries import incidents as incident_queries
from api.routes import incidents as incident_routes
from api.web import incident_rain, incident_view
from api.web.templates import PagesDep
from vigie import communes_queries, proof
from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError, ValidationFailed
from vigie.ids import BIGINT_MAX
from vigie.settings import Settings

router = APIRouter(tags=["pages"], include_in_schema=False)
Staff = Annotated[Principal, require_page(*STAFF)]
OnDuty = Annotated[Principal, require_page(Role.DUTY, Role.ADMIN)]
IncidentId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]

PAGE = "/astreinte"
HISTORY_PER_PAGE = 20
MAX_OPEN = 100  # open incidents listed (a real flood has a handful)
MAX_HISTORY_PAGE = 500
COMMENT_MAX = 1000  # as the API's AckIn


def may_acknowledge(principal: Principal) -> bool:
    """Duty and admin acknowledge and read the delivery log (as the API's routes allow)."""
    return principal.holds(Role.DUTY, Role.ADMIN)


async def _names(conn: AsyncConn, incidents: list[dict[str, Any]]) -> dict[str, str]:
    codes = sorted({c for i in incidents for c in i["communes"] or ()})
    return await communes_queries.names_by_code(conn, codes)


@router.get(PAGE)
async def duty_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Staff,
    page: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 1,
) -> Response:
    """Open incidents first (not yet acknowledged, then by level, then newest), each with its
    timeline; then the history of closed ones, paginated, newest first."""
    async with pool.connection() as conn:
        _, open_rows = await incident_queries.page(
            conn, incident_queries.IncidentFilter(state="open"), full=True, limit=MAX_OPEN, offset=0
        )
        total, closed = await incident_queries.page(
            conn,
            incident_queries.IncidentFilter(state="resolved"),
            full=True,
            limit=HISTORY_PER_PAGE,
            offset=(page - 1) * HISTORY_PER_PAGE,
        )
        timelines = {}
        for i in open_rows:
            changes = await incident_queries.timeline(conn, int(i["id"]), full=True)
            sent = await deliveries.sent_by_change(conn, int(i["id"]))
            timelines[int(i["id"])] = incident_view.timeline(changes, sent, full=True)
        names = await _names(conn, open_rows + closed)
    pages_total = max(1, -(-total // HISTORY_PER_PAGE))
    return pages.render(
        request,
        "incidents_duty.html",
        principal,
        open_incidents=incident_view.duty_order(open_rows),
        timelines=timelines,
        closed=closed,
        names=names,
        history_page=page,
        history_pages=pages_total,
        history_total=total,
    )


def _not_found(request: Request, pages: PagesDep, principal: Principal, incident_id: int) -> Response:
    return pages.render(
        request,
        "error.html",
        principal,
        status=404,
        title="Incident introuvable",
        message=f"Aucun incident n° {incident_id}.",
        sign_in_href=None,
    )


async def _incident_page(
    request: Request,
    pages: PagesDep,
    settings: Settings,
    pool: Pool,
    principal: Principal,
    incident_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    comment: str = "",
) -> Response:
    duty = may_acknowledge(principal)
    async with pool.connection() as conn:
        try:
            incident = await incident_queries.get(conn, incident_id, full=True)
        except NotFoundError:
            return _not_found(request, pages, principal, incident_id)
        changes = await incident_queries.timeline(conn, incident_id, full=True)
        sent = await deliveries.sent_by_change(conn, incident_id) if duty else []
        communes = await communes_queries.names_by_code(conn, list(incident["communes"] or ()))
        chart = await incident_rain.rain_behind(conn, incident, settings.timezone, merge=False)
        proof_doc = None
        states: dict[str, int] = {}
        if duty:
            rows = await deliveries.proof_rows(conn, incident_id)
            verdict = await proof.verify_async(conn, incident_id)
            states = await deliveries.states_of(conn, incident_id)
            proof_doc = delivery_proof.build(
                incident, rows, verdict, datetime.now(UTC), ZoneInfo(settings.timezone)
            )
    total, top = incident_view.rain_summary(chart) if chart else (None, None)
    return pages.render(
        request,
        "incidents_detail.html",
        principal,
        status=status,
        incident=incident,
        timeline=incident_view.timeline(changes, sent, full=True),
        communes=communes,
        chart=chart,
        rain_total=total,
        rain_top=top,
        rain_rows=incident_view.rain_rows(chart) if chart else None,
        may_acknowledge=duty,
        proof=proof_doc,
        states=states,
        state_fr=delivery_proof.STATE_FR,
        error=error,
        comment=comment,
        comment_max=COMMENT_MAX,
    )


@router.get(PAGE + "/incidents/{incident_id}")
async def incident_staff_page(
    request: Request,
    pages: PagesDep,
    settings: SettingsDep,
    pool: Pool,
    principal: Staff,
    incident_id: IncidentId,
) -> Response:
    """One incident for the staff: timeline, rain, acknowledgement, delivery log."""
    return await _incident_page(request, pages, settings, pool, principal, incident_id)


@router.post(PAGE + "/incidents/{incident_id}/prise-en-compte")
async def acknowledge_form(
    request: Request,
    pages: PagesDep,
    settings: SettingsDep,
    pool: Pool,
    principal: OnDuty,
    incident_id: IncidentId,
) -> Response:
    """The acknowledgement form (CSRF checked by the auth layer): the API's own handler, then
    the audit line, then back to the incident's page."""
    form = await read_form(request)
    comment = form.get("comment")
    if len(comment) > COMMENT_MAX:
        error = f"Le commentaire dépasse {COMMENT_MAX} caractères : raccourcissez-le."
        return await _incident_page(
            request,
            pages,
            settings,
            pool,
            principal,
            incident_id,
            status=422,
            error=error,
            comment=comment[:COMMENT_MAX],
        )
    try:
        await incident_routes.acknowledge(pool, incident_id, principal, {"comment": comment})
    except NotFoundError:
        return _not_found(request, pages, principal, incident_id)
    except (ConflictError, ValidationFailed, HTTPException) as exc:
        text = str(exc.detail if isinstance(exc, HTTPException) else exc)
        status = 409 if isinstance(exc, ConflictError) else 422
        return await _incident_page(
            request,
            pages,
            settings,
            pool,
            principal,
            incident_id,
            status=status,
            error=text[:1].upper() + text[1:] + ".",
            comment=comment,
        )
    # The API's route records this through its audited() dependency; the form records it here,
    # once the acknowledgement is committed.
    async with pool.connection() as conn:
        await audit.record(
            conn,
            principal.actor,
            "incident.acknowledged",
            request.url.path,
            {"method": "POST", "incident": incident_id},
        )
    return RedirectResponse(f"{PAGE}/incidents/{incident_id}?fait=pris-en-compte", status_code=303)
