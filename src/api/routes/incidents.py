"""Incidents: list with filters, detail with timeline, acknowledgement, delivery log.

The public (no token) sees incidents meant for the public and their timeline, stripped of who
acknowledged and why; technician incidents are 404 to it, as if they did not exist. The
delivery log names subscribers: duty or admin only. Acknowledgement goes through the SQL function
vigie_acknowledge_incident, shared with the engine, so the API never imports the alerts package.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import HTMLResponse
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api.auth import STAFF, Principal, Role, audited, require
from api.deps import Pool
from api.routes._common import MAX_OFFSET, VigieRoute, parse
from vigie.errors import ConflictError, NotFoundError, ValidationFailed, VigieError

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], route_class=VigieRoute)
# The page that every SMS, e-mail and CAP message links to: readable on a phone, no script.
page_router = APIRouter(tags=["pages"], route_class=VigieRoute)

Conn = AsyncConnection[Any]
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Public = Annotated[Principal, require(Role.PUBLIC)]

_PUBLIC_COLUMNS = (
    "i.id, i.kind, i.scope_kind, i.scope_id, i.level, i.state, i.audience, i.communes,"
    " i.catchment_id, i.title, i.opened_at, i.updated_at, i.resolved_at, i.level_since,"
    " i.max_level, i.acknowledged_at IS NOT NULL AS acknowledged, i.acknowledged_at,"
    " i.last_value, i.window_min"
)
_ADMIN_COLUMNS = (
    _PUBLIC_COLUMNS + ", i.rule_id, i.group_key, i.acknowledged_by, i.ack_comment, i.last_reminder_at"
)
# Timeline detail keys the public may read: the measure and the thresholds, not who
# acknowledged, their comment, or the engine's raw inputs.
_PUBLIC_DETAIL = frozenset(
    {"summary", "measure", "rule_name", "kind", "unit", "raise", "clear", "window_min", "station_id", "scope"}
)


def _is_admin(principal: Principal) -> bool:
    return principal.holds(*STAFF)


def _columns(principal: Principal) -> str:
    return _ADMIN_COLUMNS if _is_admin(principal) else _PUBLIC_COLUMNS


class IncidentFilter(BaseModel):
    """The list's filters, checked together (a 'to' before 'from' is refused)."""

    model_config = ConfigDict(frozen=True)

    state: Literal["open", "resolved"] | None = None
    level: Literal["yellow", "orange", "red"] | None = None
    commune: str | None = None
    audience: Literal["public", "technicians"] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def where(self, principal: Principal) -> tuple[str, dict[str, Any]]:
        """The SQL condition (with named parameters) for these filters and this caller."""
        clauses = ["TRUE"]
        if not _is_admin(principal):
            clauses.append("i.audience = 'public'")
        for name, clause in (
            ("state", "i.state = %(state)s"),
            ("level", "i.level = %(level)s"),
            ("commune", "%(commune)s = ANY (i.communes)"),
            ("audience", "i.audience = %(audience)s"),
            ("start", "i.opened_at >= %(start)s"),
            ("end", "i.opened_at < %(end)s"),
        ):
            if getattr(self, name) is not None:
                clauses.append(clause)
        return " AND ".join(clauses), self.model_dump()


async def _fetch(conn: Conn, incident_id: int, principal: Principal) -> dict[str, Any]:
    """One incident as this caller may see it; 404 when missing or not for this audience."""
    audience = "" if _is_admin(principal) else " AND i.audience = 'public'"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_columns(principal)} FROM incidents i WHERE i.id = %s{audience}",  # noqa: S608
            (incident_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"incident inconnu : {incident_id}")
    return row


async def _timeline(conn: Conn, incident_id: int, principal: Principal) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, at, kind, level, previous_level, value, window_min, detail, notify"
            " FROM incident_changes WHERE incident_id = %s ORDER BY at, id",
            (incident_id,),
        )
        rows = await cur.fetchall()
    if not _is_admin(principal):
        for row in rows:
            detail = row["detail"] if isinstance(row["detail"], dict) else {}
            row["detail"] = {k: v for k, v in detail.items() if k in _PUBLIC_DETAIL}
            del row["notify"]
    return rows


@router.get("")
async def list_incidents(
    pool: Pool,
    principal: Public,
    state: Literal["open", "resolved"] | None = None,
    level: Literal["yellow", "orange", "red"] | None = None,
    commune: Annotated[str | None, Query(pattern=r"^60[0-9]{3}$")] = None,
    audience: Literal["public", "technicians"] | None = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Incidents newest first (by opening time); 'from'/'to' bound opened_at, 'to' excluded."""
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("requête refusée : 'to' doit être postérieur à 'from'")
    flt = IncidentFilter(state=state, level=level, commune=commune, audience=audience, start=start, end=end)
    where, params = flt.where(principal)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_columns(principal)} FROM incidents i WHERE {where}"  # noqa: S608
            " ORDER BY i.opened_at DESC, i.id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": limit, "offset": offset},
        )
        rows = await cur.fetchall()
        await cur.execute(f"SELECT count(*) AS n FROM incidents i WHERE {where}", params)  # noqa: S608
        counted = await cur.fetchone()
    total = int(counted["n"]) if counted else 0
    return {"total": total, "limit": limit, "offset": offset, "items": rows}


@router.get("/{incident_id}")
async def get_incident(pool: Pool, principal: Public, incident_id: IncidentId) -> dict[str, Any]:
    """One incident with its timeline, oldest change first."""
    async with pool.connection() as conn:
        incident = await _fetch(conn, incident_id, principal)
        incident["timeline"] = await _timeline(conn, incident_id, principal)
    return incident


class AckIn(BaseModel):
    """The body of an acknowledgement: an optional comment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    comment: str | None = Field(default=None, max_length=1000)

    @field_validator("comment")
    @classmethod
    def _printable(cls, comment: str | None) -> str | None:
        # Newlines and tabs are fine in a comment; other control characters are not text.
        if comment is not None and any(ord(c) < 32 and c not in "\n\t" for c in comment):
            raise ValueError("le commentaire contient des caractères de contrôle")
        return comment.strip() or None if comment is not None else None


async def _why_not_acknowledged(conn: Conn, incident_id: int) -> VigieError:
    cur = await conn.execute(
        "SELECT state, acknowledged_at, acknowledged_by FROM incidents WHERE id = %s", (incident_id,)
    )
    row = await cur.fetchone()
    if row is None:
        return NotFoundError(f"incident inconnu : {incident_id}")
    state, at, by = row
    if state != "open":
        return ConflictError("incident déjà résolu : il n'y a plus rien à prendre en compte")
    return ConflictError(f"incident déjà pris en compte par {by} le {at.isoformat()}")


@router.post("/{incident_id}/acknowledge", dependencies=[audited("incident.acknowledged")])
async def acknowledge(
    pool: Pool,
    incident_id: IncidentId,
    principal: Annotated[Principal, require(Role.DUTY, Role.ADMIN)],
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    """Acknowledge an open incident, with an optional comment; 409 if resolved or already done."""
    ack = parse(AckIn, body or {})
    async with pool.connection() as conn:
        async with conn.transaction():
            cur = await conn.execute(
                "SELECT vigie_acknowledge_incident(%s, %s, %s)",
                (incident_id, principal.name, ack.comment),
            )
            row = await cur.fetchone()
        if row is None or row[0] is None:
            raise await _why_not_acknowledged(conn, incident_id)
        incident = await _fetch(conn, incident_id, principal)
    incident["change_id"] = int(row[0])
    return incident


@router.get("/{incident_id}/deliveries", dependencies=[require(Role.DUTY, Role.ADMIN)])
async def delivery_log(
    pool: Pool,
    incident_id: IncidentId,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Every delivery of the incident and every attempt with its outcome: the proof it went out."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM incidents WHERE id = %s", (incident_id,))
        if await cur.fetchone() is None:
            raise NotFoundError(f"incident inconnu : {incident_id}")
        cur = await conn.execute(
            "SELECT state, count(*) FROM deliveries WHERE incident_id = %s GROUP BY state",
            (incident_id,),
        )
        summary = {str(s): int(n) for s, n in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT count(*) FROM incident_delivery_log WHERE incident_id = %s", (incident_id,)
        )
        counted = await cur.fetchone()
        async with conn.cursor(row_factory=dict_row) as dcur:
            await dcur.execute(
                "SELECT * FROM incident_delivery_log WHERE incident_id = %s"
                " ORDER BY delivery_id, at NULLS LAST LIMIT %s OFFSET %s",
                (incident_id, limit, offset),
            )
            rows = await dcur.fetchall()
    total = int(counted[0]) if counted else 0
    return {
        "incident_id": incident_id,
        "deliveries_by_state": summary,
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": rows,
    }


_LEVEL_FR = {"yellow": ("jaune", "#f5c400"), "orange": ("orange", "#f08a00"), "red": ("rouge", "#d40000")}
_CHANGE_FR = {
    "opened": "ouverture",
    "escalated": "aggravation",
    "deescalated": "amélioration",
    "resolved": "fin de l'alerte",
    "acknowledged": "prise en compte",
    "reminder": "rappel",
}
_PARIS = ZoneInfo("Europe/Paris")


def _paris(at: datetime | None) -> str:
    return at.astimezone(_PARIS).strftime("%d/%m/%Y %H:%M") if at is not None else "—"


def _timeline_row(change: dict[str, Any]) -> str:
    detail = change["detail"] if isinstance(change["detail"], dict) else {}
    what = _CHANGE_FR.get(str(change["kind"]), str(change["kind"]))
    level = _LEVEL_FR.get(str(change["level"]), (str(change["level"]), ""))[0]
    measure = str(detail.get("measure") or detail.get("summary") or "")
    return (
        f"<tr><td>{_paris(change['at'])}</td><td>{escape(what)}</td><td>{escape(level)}</td>"
        f"<td>{escape(measure)}</td></tr>"
    )


def render_incident_page(incident: dict[str, Any], communes: list[str]) -> str:
    """The incident as a small French HTML page; every value is escaped."""
    name = _LEVEL_FR.get(str(incident["level"]), (str(incident["level"]), ""))[0]
    level = escape(str(incident["level"]))  # a class of /static/incident.css (the CSP bars inline styles)
    state = "en cours" if incident["state"] == "open" else f"terminée le {_paris(incident['resolved_at'])}"
    rows = "".join(_timeline_row(c) for c in incident["timeline"])
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Vigie — {escape(str(incident["title"]))}</title>
<link rel="stylesheet" href="/static/incident.css"></head>
<body><h1>{escape(str(incident["title"]))}</h1>
<p><span class="niveau niveau--{level}">Alerte {escape(name)}</span> — {escape(state)}</p>
<p>Communes : {escape(", ".join(communes) or "—")}<br>
Début : {_paris(incident["opened_at"])} — dernière mise à jour : {_paris(incident["updated_at"])}</p>
<h2>Chronologie</h2><table><tr><th>Heure (Paris)</th><th>Événement</th><th>Niveau</th><th>Mesure</th></tr>
{rows}</table>
<p><small>Vigie — Communauté de communes des Deux Vallées. Données brutes :
<a href="/api/v1/incidents/{int(incident["id"])}">JSON</a>.</small></p></body></html>
"""


@page_router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(pool: Pool, principal: Public, incident_id: IncidentId) -> HTMLResponse:
    """The public page of one incident (technician incidents: admin only, as in the API)."""
    async with pool.connection() as conn:
        incident = await _fetch(conn, incident_id, principal)
        incident["timeline"] = await _timeline(conn, incident_id, principal)
        cur = await conn.execute(
            "SELECT name FROM communes WHERE insee = ANY (%s) ORDER BY name", (incident["communes"],)
        )
        communes = [str(r[0]) for r in await cur.fetchall()]
    return HTMLResponse(render_incident_page(incident, communes))
