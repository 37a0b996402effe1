"""Incidents: list with filters, detail with timeline, acknowledgement, delivery log.

The public (no token) sees incidents meant for the public and their timeline, stripped of who
acknowledged and why; technician incidents are 404 to it, as if they did not exist. The
delivery log names subscribers: duty or admin only. Acknowledgement goes through the SQL function
vigie_acknowledge_incident, shared with the engine, so the API never imports the alerts package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Response
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
from vigie import communes_queries, proof
from vigie.errors import NotFoundError, ValidationFailed
from vigie.ids import BIGINT_MAX, INSEE
from vigie.levels import LEVEL_FR, Level

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
    responses={200: {"content": {"text/csv": {}}, "description": "Journal d'envoi en CSV"},
               **error_responses(404)},
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
    responses={200: {"content": {"application/pdf": {}}, "description": "Journal d'envoi en PDF"},
               **error_responses(404)},
)
async def delivery_log_pdf(pool: Pool, settings: SettingsDep, incident_id: IncidentId) -> Response:
    """The proof of warning as a PDF for the Plan Communal de Sauvegarde, with the chain's head
    that `vigie incidents verify ID --head HEAD` checks later."""
    doc = await _proof(pool, settings, incident_id)
    pdf = await run_in_threadpool(delivery_proof.to_pdf, doc)
    return Response(pdf, media_type="application/pdf", headers=_attachment(incident_id, "pdf"))


_CHANGE_FR = {
    "opened": "ouverture",
    "escalated": "aggravation",
    "deescalated": "amélioration",
    "resolved": "fin de l'alerte",
    "acknowledged": "prise en compte",
    "reminder": "rappel",
}


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M") if at is not None else "—"


def _timeline_row(change: dict[str, Any], zone: ZoneInfo) -> str:
    detail = change["detail"] if isinstance(change["detail"], dict) else {}
    what = _CHANGE_FR.get(str(change["kind"]), str(change["kind"]))
    level = LEVEL_FR.get(str(change["level"]), str(change["level"]))
    measure = str(detail.get("measure") or detail.get("summary") or "")
    return (
        f"<tr><td>{_local(change['at'], zone)}</td><td>{escape(what)}</td><td>{escape(level)}</td>"
        f"<td>{escape(measure)}</td></tr>"
    )


def render_incident_page(incident: dict[str, Any], communes: list[str], timezone: str) -> str:
    """The incident as a small French HTML page, times in `timezone`; every value is escaped."""
    zone = ZoneInfo(timezone)
    level = str(incident["level"])
    name = LEVEL_FR.get(level, level)
    ended = _local(incident["resolved_at"], zone)
    state = "en cours" if incident["state"] == "open" else f"terminée le {ended}"
    rows = "".join(_timeline_row(c, zone) for c in incident["timeline"])
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Vigie — {escape(str(incident["title"]))}</title>
<link rel="stylesheet" href="/static/incident.css"></head>
<body><h1>{escape(str(incident["title"]))}</h1>
<p><span class="niveau niveau--{escape(level)}">Alerte {escape(name)}</span> — {escape(state)}</p>
<p>Communes : {escape(", ".join(communes) or "—")}<br>
Début : {_local(incident["opened_at"], zone)} — dernière mise à jour : {
    _local(incident["updated_at"], zone)}</p>
<h2>Chronologie</h2><table><tr><th>Heure ({escape(_zone_label(timezone))})</th><th>Événement</th>
<th>Niveau</th><th>Mesure</th></tr>
{rows}</table>
<p><small>Vigie — Communauté de communes des Deux Vallées. Données brutes :
<a href="/api/v1/incidents/{int(incident["id"])}">JSON</a>.</small></p></body></html>
"""


def _zone_label(timezone: str) -> str:
    # The zone's city ('Paris' for Europe/Paris), as the residents read it.
    return timezone.rsplit("/", 1)[-1].replace("_", " ")


@page_router.get(
    "/incidents/{incident_id}",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "La page de l'incident, en français"},
        **error_responses(404),
    },
)
async def incident_page(
    pool: Pool, settings: SettingsDep, principal: Public, incident_id: IncidentId
) -> HTMLResponse:
    """The public page of one incident (technician incidents: admin only, as in the API)."""
    incident = await _detail(pool, incident_id, _is_admin(principal))
    async with pool.connection() as conn:
        communes = await communes_queries.names(conn, list(incident["communes"]))
    return HTMLResponse(render_incident_page(incident, communes, settings.timezone))
