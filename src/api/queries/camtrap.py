"""Async queries of the Camtrap DP export and the species summary: the deployments of a range,
their events (media) and the consensus of each event's observations, read in batches through
server-side cursors so that an export of any size holds one batch in memory.

The consensus of an event: its validated observations, or its proposed ones when none was
validated; rejected observations never. Events marked false positive are left out, and so are
events with a person in them (api.queries.people) unless an admin includes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from api.queries.deployments import COLUMNS as DEPLOYMENT_COLUMNS
from api.queries.people import HAS_PERSON_SUB
from vigie.db import AsyncConn

BATCH = 2000

# The events of the chosen deployments inside [start, end): each belongs to the deployment of
# its camera whose [start_ts, end_ts) holds its start (as in the events list).
_EVENTS = (
    "SELECT e.id, e.camera_id, e.start_ts, e.end_ts, coalesce(e.clip_start_ts, e.start_ts) AS clip_ts,"  # noqa: S608
    f" e.clip_path, e.favourite, d.id AS deployment_id, {HAS_PERSON_SUB} AS person"
    " FROM camera_events e JOIN deployments d ON d.camera_id = e.camera_id"
    " AND e.start_ts >= d.start_ts AND (d.end_ts IS NULL OR e.start_ts < d.end_ts)"
    " WHERE d.id = ANY(%(deployments)s) AND e.status <> 'false_positive'"
    " AND (%(start)s::timestamptz IS NULL OR e.start_ts >= %(start)s)"
    " AND (%(end)s::timestamptz IS NULL OR e.start_ts < %(end)s)"
    f" AND (%(include_people)s OR NOT {HAS_PERSON_SUB})"
)
# Validated observations, or proposed ones on an event where nothing was validated.
CONSENSUS = (
    "(o.status = 'validated' OR (o.status = 'proposed' AND NOT EXISTS ("
    "SELECT 1 FROM observations v WHERE v.event_id = o.event_id AND v.status = 'validated')))"
)


def _range(
    start: datetime | None, end: datetime | None, deployment_ids: list[int], include_people: bool
) -> dict[str, Any]:
    return {"start": start, "end": end, "deployments": deployment_ids, "include_people": include_people}


async def deployments(
    conn: AsyncConn, start: datetime | None, end: datetime | None, ids: list[int] | None
) -> list[dict[str, Any]]:
    """The deployments that overlap [start, end) (of `ids` only, when given), by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments"  # noqa: S608  # constants
            " WHERE (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))"
            " AND (%(end)s::timestamptz IS NULL OR start_ts < %(end)s)"
            " AND (%(start)s::timestamptz IS NULL OR end_ts IS NULL OR end_ts > %(start)s)"
            " ORDER BY id",
            {"ids": ids, "start": start, "end": end},
        )
        return await cur.fetchall()


async def existing_deployments(conn: AsyncConn, ids: list[int]) -> set[int]:
    """Which of these deployment ids exist."""
    cur = await conn.execute("SELECT id FROM deployments WHERE id = ANY(%s)", (ids,))
    return {int(str(r[0])) for r in await cur.fetchall()}


async def media(
    conn: AsyncConn,
    start: datetime | None,
    end: datetime | None,
    deployment_ids: list[int],
    include_people: bool = False,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The events that have a clip, oldest first, in batches (`person` says which hold one)."""
    async with conn.transaction(), conn.cursor(name="vigie_camtrap_media", row_factory=dict_row) as cur:
        await cur.execute(
            f"{_EVENTS} AND e.clip_path IS NOT NULL ORDER BY e.start_ts, e.id",
            _range(start, end, deployment_ids, include_people),
        )
        while rows := await cur.fetchmany(BATCH):
            yield rows


async def observations(
    conn: AsyncConn,
    start: datetime | None,
    end: datetime | None,
    deployment_ids: list[int],
    include_people: bool = False,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The consensus observations of those events, with their event's deployment, clip and
    span, by event then observation, in batches."""
    sql = (
        f"WITH ev AS ({_EVENTS})"  # noqa: S608  # constants
        " SELECT o.id, o.event_id, o.observation_type, o.scientific_name, o.count, o.life_stage, o.sex,"
        " o.behavior, o.individual_id, o.comments, o.bbox_x, o.bbox_y, o.bbox_w, o.bbox_h,"
        " o.classified_by, o.classification_ts, o.status, o.validated_by,"
        " ev.clip_ts + make_interval(secs => o.event_start_s) AS event_start,"
        " ev.clip_ts + make_interval(secs => o.event_end_s) AS event_end,"
        " ev.start_ts AS ev_start, ev.end_ts AS ev_end, ev.clip_path IS NOT NULL AS has_clip,"
        " ev.deployment_id"
        f" FROM ev JOIN observations o ON o.event_id = ev.id WHERE {CONSENSUS}"
        " ORDER BY ev.start_ts, ev.id, o.id"
    )
    async with conn.transaction(), conn.cursor(name="vigie_camtrap_obs", row_factory=dict_row) as cur:
        await cur.execute(sql, _range(start, end, deployment_ids, include_people))
        while rows := await cur.fetchmany(BATCH):
            yield rows


async def species_summary(
    conn: AsyncConn,
    start: datetime | None,
    end: datetime | None,
    deployment_ids: list[int] | None,
    tz: str,
    *,
    hide_people: bool = False,
) -> list[dict[str, Any]]:
    """Consensus counts per species, deployment and month (in the local zone tz): observations,
    individuals (the sum of count, 1 when unknown) and events. Events outside any deployment
    count under deployment None, unless deployments were chosen."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT o.scientific_name, d.id AS deployment_id, d.location_name,"  # noqa: S608  # constants
            " to_char(date_trunc('month', e.start_ts AT TIME ZONE %(tz)s), 'YYYY-MM') AS month,"
            " count(*) AS observations, sum(coalesce(o.count, 1)) AS individuals,"
            " count(DISTINCT e.id) AS events"
            " FROM observations o JOIN camera_events e ON e.id = o.event_id"
            " LEFT JOIN deployments d ON d.camera_id = e.camera_id"
            " AND e.start_ts >= d.start_ts AND (d.end_ts IS NULL OR e.start_ts < d.end_ts)"
            f" WHERE {CONSENSUS} AND o.scientific_name IS NOT NULL AND e.status <> 'false_positive'"
            " AND (%(ids)s::bigint[] IS NULL OR d.id = ANY(%(ids)s))"
            " AND (%(start)s::timestamptz IS NULL OR e.start_ts >= %(start)s)"
            " AND (%(end)s::timestamptz IS NULL OR e.start_ts < %(end)s)"
            f" AND (NOT %(hide_people)s OR NOT {HAS_PERSON_SUB})"
            " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2 NULLS LAST, 4",
            {"tz": tz, "ids": deployment_ids, "start": start, "end": end, "hide_people": hide_people},
        )
        return await cur.fetchall()


async def export_counts(
    conn: AsyncConn,
    start: datetime | None,
    end: datetime | None,
    deployment_ids: list[int],
    include_people: bool = False,
) -> dict[str, int]:
    """What an export of these deployments over [start, end) would hold, counted without reading
    the rows: media (events with a clip) and observations (the consensus), as the export has them."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"WITH ev AS ({_EVENTS})"  # noqa: S608  # constants
            " SELECT (SELECT count(*) FROM ev WHERE ev.clip_path IS NOT NULL) AS media,"
            f" (SELECT count(*) FROM ev JOIN observations o ON o.event_id = ev.id WHERE {CONSENSUS})"
            " AS observations",
            _range(start, end, deployment_ids, include_people),
        )
        row = await cur.fetchone()
    return {"media": int(row["media"]), "observations": int(row["observations"])} if row else {}


async def blur_boxes(conn: AsyncConn, event_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the people detector's boxes, the worker's motion boxes) of an event, for blurring."""
    cur = await conn.execute(
        "SELECT coalesce(p.boxes, '[]'::jsonb), e.boxes FROM camera_events e"
        " LEFT JOIN person_proposals p ON p.event_id = e.id WHERE e.id = %s",
        (event_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return [], []
    return list(row[0]), list(row[1])
