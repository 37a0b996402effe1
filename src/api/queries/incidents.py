"""Async queries of incidents and their timeline (incident_changes), as the API shows them.

The alert engine writes these tables; the API reads them and acknowledges through the SQL
function vigie_acknowledge_incident, shared with the engine. `full` selects the admin view
(who acknowledged, their comment, the rule, the engine's raw timeline detail); without it the
public view leaves technician incidents out as if they did not exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError, VigieError

_PUBLIC_COLUMNS = (
    "i.id, i.kind, i.scope_kind, i.scope_id, i.level, i.state, i.audience, i.communes,"
    " i.catchment_id, i.title, i.opened_at, i.updated_at, i.resolved_at, i.level_since,"
    " i.max_level, i.acknowledged_at IS NOT NULL AS acknowledged, i.acknowledged_at,"
    " i.last_value, i.window_min, i.exercise_id"
)
_FULL_COLUMNS = (
    _PUBLIC_COLUMNS + ", i.rule_id, i.group_key, i.acknowledged_by, i.ack_comment, i.last_reminder_at"
)
# Timeline detail keys the public may read: the measure and the thresholds, not who
# acknowledged, their comment, or the engine's raw inputs.
PUBLIC_DETAIL = frozenset(
    {"summary", "measure", "rule_name", "kind", "unit", "raise", "clear", "window_min", "station_id", "scope"}
)


def _columns(full: bool) -> str:
    return _FULL_COLUMNS if full else _PUBLIC_COLUMNS


@dataclass(frozen=True)
class IncidentFilter:
    """The list's filters; None means "any"."""

    state: str | None = None
    level: str | None = None
    commune: str | None = None
    audience: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def where(self, full: bool) -> tuple[str, dict[str, Any]]:
        """The SQL condition (with named parameters) for these filters and this view."""
        clauses = ["TRUE"] if full else ["i.audience = 'public'"]
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
        return " AND ".join(clauses), asdict(self)


async def page(
    conn: AsyncConn, flt: IncidentFilter, *, full: bool, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of incidents newest first by opening time)."""
    where, params = flt.where(full)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_columns(full)} FROM incidents i WHERE {where}"  # noqa: S608  # constants
            " ORDER BY i.opened_at DESC, i.id DESC LIMIT %(limit)s OFFSET %(offset)s",
            {**params, "limit": limit, "offset": offset},
        )
        rows = await cur.fetchall()
        await cur.execute(f"SELECT count(*) AS n FROM incidents i WHERE {where}", params)  # noqa: S608
        counted = await cur.fetchone()
    return (int(counted["n"]) if counted else 0), rows


async def get(conn: AsyncConn, incident_id: int, *, full: bool) -> dict[str, Any]:
    """One incident in this view; NotFoundError when missing or not for this audience."""
    audience = "" if full else " AND i.audience = 'public'"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_columns(full)} FROM incidents i WHERE i.id = %s{audience}",  # noqa: S608
            (incident_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"incident inconnu : {incident_id}")
    return row


async def timeline(conn: AsyncConn, incident_id: int, *, full: bool) -> list[dict[str, Any]]:
    """The incident's changes, oldest first; the public view keeps only PUBLIC_DETAIL."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, at, kind, level, previous_level, value, window_min, detail, notify"
            " FROM incident_changes WHERE incident_id = %s ORDER BY at, id",
            (incident_id,),
        )
        rows = await cur.fetchall()
    if not full:
        for row in rows:
            detail = row["detail"] if isinstance(row["detail"], dict) else {}
            row["detail"] = {k: v for k, v in detail.items() if k in PUBLIC_DETAIL}
            if row["kind"] == "acknowledged":
                # Its summary is "pris en compte par <login>": who acknowledged is not public.
                row["detail"].pop("summary", None)
            del row["notify"]
    return rows


async def exists(conn: AsyncConn, incident_id: int) -> bool:
    """True when the incident is stored (any audience)."""
    cur = await conn.execute("SELECT 1 FROM incidents WHERE id = %s", (incident_id,))
    return await cur.fetchone() is not None


async def _why_not_acknowledged(conn: AsyncConn, incident_id: int) -> VigieError:
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


async def acknowledge(conn: AsyncConn, incident_id: int, by: str, comment: str | None) -> int:
    """Acknowledge an open incident; the id of the 'acknowledged' change.

    NotFoundError when absent, ConflictError (in French, saying why) when resolved or done."""
    async with conn.transaction():
        cur = await conn.execute("SELECT vigie_acknowledge_incident(%s, %s, %s)", (incident_id, by, comment))
        row = await cur.fetchone()
    if row is None or row[0] is None:
        raise await _why_not_acknowledged(conn, incident_id)
    return int(row[0])


async def open_by_level(conn: AsyncConn) -> dict[str, int]:
    """Open incidents per level (for /metrics)."""
    cur = await conn.execute("SELECT level, count(*) FROM incidents WHERE state = 'open' GROUP BY level")
    return {str(level): int(n) for level, n in await cur.fetchall()}
