"""Queries the review pages need beyond the API's list (owner: the API, which owns
event_reviews and observations and reads the worker's camera_events): the month's calendar
(days with events still new) and a naturalist's quick species (keys 1-9)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row

from api.queries.people import HAS_PERSON_SUB
from vigie.db import AsyncConn

# For a viewer, events with a person are not counted (nor shown) anywhere (migration 420).
_PEOPLE = f" AND (NOT %(hide_people)s OR NOT {HAS_PERSON_SUB})"


async def month_days(
    conn: AsyncConn, start: datetime, end: datetime, tz: str, *, hide_people: bool = False
) -> dict[date, dict[str, int]]:
    """Per local day of [start, end): how many events began, and how many are still new
    (nobody reviewed them, nor marked them a false positive)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT (start_ts AT TIME ZONE %(tz)s)::date AS day, count(*) AS total,"  # noqa: S608
            " count(*) FILTER (WHERE status = 'new') AS new"
            " FROM camera_events e WHERE start_ts >= %(start)s AND start_ts < %(end)s"
            f"{_PEOPLE} GROUP BY 1",
            {"tz": tz, "start": start, "end": end, "hide_people": hide_people},
        )
        rows: list[dict[str, Any]] = await cur.fetchall()
    return {r["day"]: {"total": int(r["total"]), "new": int(r["new"])} for r in rows}


async def recent_species(conn: AsyncConn, user_id: int, limit: int = 9) -> list[str]:
    """The scientific names this person classified most recently, newest first."""
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT scientific_name FROM observations WHERE classified_by_id = %s"
            " AND scientific_name IS NOT NULL GROUP BY scientific_name"
            " ORDER BY max(classification_ts) DESC, scientific_name LIMIT %s",
            (user_id, limit),
        )
        return [str(r[0]) for r in await cur.fetchall()]


async def daily_counts(
    conn: AsyncConn, start: datetime, end: datetime, tz: str, *, hide_people: bool = False
) -> list[dict[str, Any]]:
    """Per local day of [start, end) that has events: how many, and how many in each status."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT (start_ts AT TIME ZONE %(tz)s)::date AS day, count(*) AS total,"  # noqa: S608
            " count(*) FILTER (WHERE status = 'new') AS new,"
            " count(*) FILTER (WHERE status = 'reviewed') AS reviewed,"
            " count(*) FILTER (WHERE status = 'false_positive') AS false_positive"
            " FROM camera_events e WHERE start_ts >= %(start)s AND start_ts < %(end)s"
            f"{_PEOPLE} GROUP BY 1 ORDER BY 1",
            {"tz": tz, "start": start, "end": end, "hide_people": hide_people},
        )
        return await cur.fetchall()


async def species_counts(
    conn: AsyncConn, start: datetime, end: datetime, *, hide_people: bool = False
) -> list[dict[str, Any]]:
    """Per species seen on events of [start, end) (observations not rejected): the events it is
    on, the individuals counted, and how many of its observations are validated."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT o.scientific_name, count(DISTINCT o.event_id) AS events,"  # noqa: S608
            " coalesce(sum(o.count), 0) AS individuals,"
            " count(*) FILTER (WHERE o.status = 'validated') AS validated, count(*) AS observations"
            " FROM observations o JOIN camera_events e ON e.id = o.event_id"
            " WHERE e.start_ts >= %(start)s AND e.start_ts < %(end)s AND o.status <> 'rejected'"
            " AND o.scientific_name IS NOT NULL"
            f"{_PEOPLE} GROUP BY o.scientific_name ORDER BY events DESC, o.scientific_name",
            {"start": start, "end": end, "hide_people": hide_people},
        )
        return await cur.fetchall()
