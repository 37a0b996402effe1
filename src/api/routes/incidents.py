"""Incidents: list with filters, detail with timeline, acknowledgement, delivery log.

The public (no token) sees incidents meant for the public and their timeline, stripped of who
acknowledged and why; technician incidents are 404 to it, as if they did not exist. The
delivery log names subscribers: duty or admin only. Acknowledgement goes through the SQL function
vigie_acknowledge_incident, shared with the engine, so the API never imports the alerts package.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api import delivery_proof
from api.auth import STAFF, Principal, Role, audited, require
from api.deps import Pool, SettingsDep
from api.queries import deliveries
from api.queries import incidents as incident_queries
from api.routes._common import MAX_OFFSET, VigieRoute, parse
from api.schemas.errors import error_responses
from api.schemas.incidents import (
    AcknowledgedFull,
    AcknowledgedPublic,
    DeliveryAttempt,
    DeliveryLog,
    IncidentDetailFull,
    IncidentDetailPublic,
    IncidentFull,
    IncidentPage,
    IncidentPublic,
)
from api.validation import IsoAwareDatetime
from api.web import incident_rain, incident_view
from api.web.templates import PagesDep
from vigie import communes_queries, instructions_queries, proof
from vigie.communes import OUTLINES_CREDIT
from vigie.errors import NotFoundError, ValidationFailed
from vigie.ids import BIGINT_MAX, INSEE
from vigie.levels import Level

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], route_class=VigieRoute)
# The page that every SMS, e-mail and CAP message links to: readable on a phone, no script.
page_router = APIRouter(tags=["pages"], route_class=VigieRoute)

IncidentId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Public = Annotated[Principal, require(Role.PUBLIC)]


def _is_admin(principal: Principal) -> bool:
    return principal.holds(*STAFF)


async def _detail(pool: Pool, incident_id: int, full: bool) -> dict[str, Any]:
    async with pool.connection() as conn:
        incident = await incident_queries.get(conn, incident_id, full=full)
        incident["timeline"] = await incident_queries.timeline(conn, incident_id, full=full)
    return incident


@router.get("")
async def list_incidents(
    pool: Pool,
    principal: Public,
    state: Literal["open", "resolved"] | None = None,
    level: Level | None = None,
    commune: Annotated[str | None, Query(pattern=INSEE)] = None,
    audience: Literal["public", "technicians"] | None = None,
    start: Annotated[IsoAwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoAwareDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> IncidentPage:
    """Incidents newest first (by opening time); 'from'/'to' bound opened_at, 'to' excluded."""
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("requête refusée : 'to' doit être postérieur à 'from'")
    flt = incident_queries.IncidentFilter(state, level, commune, audience, start, end)
    full = _is_admin(principal)
    async with pool.connection() as conn:
        total, rows = await incident_queries.page(conn, flt, full=full, limit=limit, offset=offset)
    shown = IncidentFull if full else IncidentPublic
    return IncidentPage(
        total=total, limit=limit, offset=offset, items=[shown.model_validate(r) for r in rows]
    )


@router.get("/{incident_id}", responses=error_responses(404))
async def get_incident(
    pool: Pool, principal: Public, incident_id: IncidentId
) -> IncidentDetailFull | IncidentDetailPublic:
    """One incident with its timeline, oldest change first."""
    full = _is_admin(principal)
    incident = await _detail(pool, incident_id, full)
    if full:
        return IncidentDetailFull.model_validate(incident)
    return IncidentDetailPublic.model_validate(incident)


class AckIn(BaseModel):
    """The body of an acknowledgement: an optional comment."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [{"comment": "équipe sur place"}]}
    )

    comment: str | None = Field(default=None, max_length=1000)

    @field_validator("comment")
    @classmethod
    def _printable(cls, comment: str | None) -> str | None:
        # Newlines and tabs are fine in a comment; other control characters are not text.
        if comment is not None and any(ord(c) < 32 and c not in "\n\t" for c in comment):
            raise ValueError("le commentaire contient des caractères de contrôle")
        return comment.strip() or None if comment is not None else None


_ACK_EXAMPLES: dict[str, Any] = {"commentaire": {"value": {"comment": "équipe sur place"}}}


@router.post(
    "/{incident_id}/acknowledge",
    responses=error_responses(404, 409),
    dependencies=[audited("incident.acknowledged")],
)
async def acknowledge(
    pool: Pool,
    incident_id: IncidentId,
    principal: Annotated[Principal, require(Role.DUTY, Role.ADMIN)],
    # Declared as any JSON (parsed below) so that every refusal is one French sentence.
    body: Annotated[dict[str, Any] | None, Body(openapi_examples=_ACK_EXAMPLES)] = None,
) -> AcknowledgedFull | AcknowledgedPublic:
    """Acknowledge an open incident, with an optional comment; 409 if resolved or already done."""
    ack = parse(AckIn, body or {})
    full = _is_admin(principal)
    async with pool.connection() as conn:
        change_id = await incident_queries.acknowledge(conn, incident_id, principal.name, ack.comment)
        incident = await incident_queries.get(conn, incident_id, full=full)
    shown = AcknowledgedFull if full else AcknowledgedPublic
    return shown.model_validate({**incident, "change_id": change_id})


@router.get(
    "/{incident_id}/deliveries",
    dependencies=[require(Role.DUTY, Role.ADMIN)],
    responses=error_responses(404),
)
async def delivery_log(
    pool: Pool,
    incident_id: IncidentId,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DeliveryLog:
    """Every delivery of the incident and every attempt with its outcome: the proof it went out."""
    async with pool.connection() as conn:
        if not await incident_queries.exists(conn, incident_id):
            raise NotFoundError(f"incident inconnu : {incident_id}")
        summary = await deliveries.states_of(conn, incident_id)
        total, rows = await deliveries.log_page(conn, incident_id, limit=limit, offset=offset)
    return DeliveryLog(
        incident_id=incident_id,
        deliveries_by_state=summary,
        total=total,
        limit=limit,
        offset=offset,
        items=[DeliveryAttempt.model_validate(r) for r in rows],
    )


_PROOF_ROLES = require(Role.DUTY, Role.ADMIN)


async def _proof(pool: Pool, settings: SettingsDep, incident_id: int) -> delivery_proof.ProofDocument:
    async with pool.connection() as conn:
        incident = await incident_queries.get(conn, incident_id, full=True)
        rows = await deliveries.proof_rows(conn, incident_id)
        verdict = await proof.verify_async(conn, incident_id)
    return delivery_proof.build(incident, rows, verdict, datetime.now(UTC), ZoneInfo(settings.timezone))


def _attachment(incident_id: int, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="vigie-incident-{incident_id}-envois.{ext}"'}


@router.get(
    "/{incident_id}/deliveries.csv",
    dependencies=[_PROOF_ROLES, audited("export")],
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Journal d'envoi en CSV"},
        **error_responses(404),
    },
)
async def delivery_log_csv(
    pool: Pool,
    settings: SettingsDep,
    incident_id: IncidentId,
    sep: Annotated[Literal[";", ","], Query(description="séparateur ; (tableur français) ou ,")] = ";",
) -> Response:
    """The proof of warning as CSV: every message, masked recipient, times, attempts, and the
    hash chain's verdict and head."""
    doc = await _proof(pool, settings, incident_id)
    # A BOM, so that a French spreadsheet reads the accents as UTF-8.
    body = "\ufeff" + delivery_proof.to_csv(doc, sep=sep)
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment(incident_id, "csv"))


@router.get(
    "/{incident_id}/deliveries.pdf",
    dependencies=[_PROOF_ROLES, audited("export")],
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "Journal d'envoi en PDF"},
        **error_responses(404),
    },
)
async def delivery_log_pdf(pool: Pool, settings: SettingsDep, incident_id: IncidentId) -> Response:
    """The proof of warning as a PDF for the Plan Communal de Sauvegarde, with the chain's head
    that `vigie incidents verify ID --head HEAD` checks later."""
    doc = await _proof(pool, settings, incident_id)
    pdf = await run_in_threadpool(delivery_proof.to_pdf, doc)
    return Response(pdf, media_type="application/pdf", headers=_attachment(incident_id, "pdf"))


# The public page is kept a little by browsers and proxies: SMS links are opened by many residents
# at once, and a reload answers 304 when nothing changed (ETag of the page's bytes).
PUBLIC_MAX_AGE_S = 30


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@page_router.get(
    "/incidents/{incident_id}",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "La page de l'incident, en français"},
        304: {"description": "Inchangée depuis la version en cache (If-None-Match)"},
        404: {"content": {"text/html": {}}, "description": "Incident inconnu : une page en français"},
    },
)
async def incident_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Public,
    incident_id: IncidentId,
) -> Response:
    """The public page of one incident, every SMS links to it (technician incidents: staff only,
    as in the API): level, consignes of each commune, the rain, a small map, the timeline, and
    when it ended. Nothing private: the public view of the incident and its timeline."""
    full = _is_admin(principal)
    async with pool.connection() as conn:
        try:
            incident = await incident_queries.get(conn, incident_id, full=full)
        except NotFoundError:
            return pages.render(
                request,
                "error.html",
                principal,
                status=404,
                title="Incident introuvable",
                message=f"Aucun incident public n° {incident_id}.",
                sign_in_href=None,
            )
        changes = await incident_queries.timeline(conn, incident_id, full=False)
        communes = await communes_queries.names_by_code(conn, list(incident["communes"] or ()))
        consignes = await instructions_queries.all_communes(conn)
        chart = await incident_rain.rain_behind(conn, incident, settings.timezone, merge=True)
    key = str(incident["level"]) if incident["state"] == "open" else "end"
    texts = [
        {"name": name, "text": next((c["text"] for c in consignes.get(insee, []) if c["level"] == key), "")}
        for insee, name in communes.items()
    ]
    total, top = incident_view.rain_summary(chart) if chart else (None, None)
    page = pages.render(
        request,
        "incidents_public.html",
        principal,
        incident=incident,
        timeline=incident_view.timeline(changes, full=False),
        communes=communes,
        consignes=[t for t in texts if t["text"]],
        chart=chart,
        rain_total=total,
        rain_top=top,
        smap=incident_view.small_map(),
        credit=OUTLINES_CREDIT,
        staff_view=full,  # the person on duty lands here from the SMS: a way to their page
    )
    etag = _etag(bytes(page.body))
    headers = {
        # A signed-in visitor's page names them (and holds their CSRF token): never shared.
        "Cache-Control": "private, no-cache"
        if principal.signed_in
        else f"public, max-age={PUBLIC_MAX_AGE_S}",
        "ETag": etag,
        "Vary": "Cookie, Authorization",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    page.headers.update(headers)
    return page
