"""Async queries of people in the frame (owner, for the API, of person_flags; it reads the
camera worker's person_proposals). Migration 420_people.sql.

An event is hidden from viewers, and left out of exports unless an admin includes it, while a
naturalist flagged it, or while the detector proposed it and no naturalist cleared it: the
naturalist's word wins, then the proposal, else the event is shown."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from api.accounts.audit import Actor
from vigie.db import AsyncConn
from vigie.errors import NotFoundError

# Joins for an event aliased `e`, and the expression that says it holds a person.
JOINS = " LEFT JOIN person_flags pf ON pf.event_id = e.id LEFT JOIN person_proposals pp ON pp.event_id = e.id"
HAS_PERSON = "coalesce(pf.person, pp.proposed, false)"
# The same without the joins, for queries that select events some other way.
HAS_PERSON_SUB = (
    "coalesce((SELECT f.person FROM person_flags f WHERE f.event_id = e.id),"
    " (SELECT p.proposed FROM person_proposals p WHERE p.event_id = e.id), false)"
)
COLUMNS = (
    "pf.person AS person_flag, pf.flagged_by AS person_flagged_by, pf.flagged_at AS person_flagged_at,"
    " pp.proposed AS person_proposed, pp.score::float8 AS person_score,"
    f" {HAS_PERSON} AS person_hidden"
)


async def is_hidden(conn: AsyncConn, event_id: int) -> bool:
    """Whether this event holds a person (flagged, or proposed and not cleared); NotFoundError
    if the event is unknown."""
    cur = await conn.execute(
        f"SELECT {HAS_PERSON} FROM camera_events e {JOINS} WHERE e.id = %s",  # noqa: S608  # constants
        (event_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"événement inconnu : {event_id}")
    return bool(row[0])


async def set_flag(
    conn: AsyncConn, event_ids: list[int], person: bool | None, actor: Actor
) -> list[dict[str, Any]]:
    """Record the naturalist's word on these events (true: a person; false: cleared, whatever
    the detector said; None: withdrawn, the detector's proposal applies again). Answers each
    event's state before the change, for the audit log."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.id, pf.person AS flag, pp.proposed FROM camera_events e"  # noqa: S608
            f" {JOINS} WHERE e.id = ANY(%s) ORDER BY e.id",
            (event_ids,),
        )
        before: list[dict[str, Any]] = await cur.fetchall()
    if person is None:
        await conn.execute("DELETE FROM person_flags WHERE event_id = ANY(%s)", (event_ids,))
    else:
        await conn.execute(
            "INSERT INTO person_flags (event_id, person, flagged_by_id, flagged_by)"
            " SELECT unnest(%s::bigint[]), %s, %s, %s ON CONFLICT (event_id) DO UPDATE SET"
            " person = EXCLUDED.person, flagged_by_id = EXCLUDED.flagged_by_id,"
            " flagged_by = EXCLUDED.flagged_by, flagged_at = now()",
            (event_ids, person, actor.id, actor.name[:200]),
        )
    return before


async def proposal_boxes(conn: AsyncConn, event_id: int) -> list[dict[str, Any]]:
    """The detector's person boxes on this event (empty when it proposed none)."""
    cur = await conn.execute("SELECT boxes FROM person_proposals WHERE event_id = %s", (event_id,))
    row = await cur.fetchone()
    return list(row[0]) if row and isinstance(row[0], list) else []
