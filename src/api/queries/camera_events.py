"""Async queries of the camera worker's events as the review shows them, and of each user's
review state (owner, for the API, of camera_events and event_reviews).

The worker writes camera_events; the API reads them, sets their review status, favourite and
has_observations, and deletes those a naturalist deletes. Each event's deployment is resolved
here, in SQL: the deployment of its camera whose [start, end) holds the event's start. Day or
night is the sun's elevation there (vigie_sun_elevation, migration 400), below 0° being night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from api.cursor import Cursor
from api.queries import people
from vigie.db import AsyncConn
from vigie.errors import NotFoundError, ValidationFailed

# Where the sun is computed for an event outside any deployment: the Deux Vallées' centre.
DEFAULT_LAT, DEFAULT_LON = 49.49, 2.88
STATUSES = ("new", "reviewed", "false_positive")

# Sort name -> SQL expression (float8 or timestamptz, never NULL), so that the keyset
# comparison (key, id) < (last key, last id) is exact and total.
SORTS: dict[str, str] = {
    "start": "e.start_ts",
    # real, as stored, so that the index (confidence, id) serves the sort; the cursor's key is
    # cast back to real, which is exact (a real's value is a double).
    "confidence": "e.confidence",
    "duration": "extract(epoch FROM coalesce(e.end_ts, e.start_ts) - e.start_ts)::float8",
    "peak_score": "coalesce(e.peak_score, -1)::float8",
}

_DEPLOYMENT_ONLY = (
    "LEFT JOIN LATERAL (SELECT d.id, d.lat, d.lon FROM deployments d WHERE d.camera_id = e.camera_id"
    " AND d.start_ts <= e.start_ts AND (d.end_ts IS NULL OR e.start_ts < d.end_ts)"
    " ORDER BY d.start_ts DESC LIMIT 1) dep ON TRUE"
)
# The caller's own review: one primary-key lookup per row (an EXISTS here became a hash of
# every review of every user, read in full at each page).
_MINE = " LEFT JOIN event_reviews mine ON mine.event_id = e.id AND mine.user_id = %(me)s"
# People in the frame (migration 420): two primary-key lookups per row.
_DEPLOYMENT = _DEPLOYMENT_ONLY + _MINE + people.JOINS
_NIGHT = (
    f"vigie_sun_elevation(e.start_ts, coalesce(dep.lat, {DEFAULT_LAT}), coalesce(dep.lon, {DEFAULT_LON})) < 0"
)
_COLUMNS = (  # constants only
    "e.id, e.camera_id, dep.id AS deployment_id, e.event_key, e.start_ts, e.end_ts, e.clip_start_ts,"  # noqa: S608
    " extract(epoch FROM coalesce(e.end_ts, e.start_ts) - e.start_ts)::float8 AS duration_s,"
    " e.peak_score, e.peak_ts, e.confidence::float8 AS confidence, e.doubt_guard, e.status,"
    " e.favourite, e.has_observations, e.part, e.previous_event_id, e.media_error,"
    " e.clip_path IS NOT NULL AS has_clip,"
    " (e.snapshot_path IS NOT NULL OR e.clip_path IS NOT NULL) AS has_snapshot,"
    f" CASE WHEN {_NIGHT} THEN 'night' ELSE 'day' END AS period,"
    " mine.event_id IS NOT NULL AS reviewed_by_me,"
    " ARRAY(SELECT DISTINCT o.scientific_name FROM observations o WHERE o.event_id = e.id"
    " AND o.status <> 'rejected' AND o.scientific_name IS NOT NULL ORDER BY 1) AS species,"
    f" {people.COLUMNS}"
)


@dataclass(frozen=True)
class EventFilter:
    """The list's filters; None (or empty) means "any"."""

    cameras: tuple[str, ...] = ()
    deployment_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    period: str | None = None  # "day" or "night"
    statuses: tuple[str, ...] = ()
    reviewed_by_me: bool | None = None
    species: tuple[str, ...] = ()
    has_observations: bool | None = None
    favourite: bool | None = None
    min_duration_s: float | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    doubtful: bool | None = None
    doubt_guard: str | None = None
    # True for a caller who may not see people (viewers): events with a person are left out.
    hide_people: bool = False
    person: bool | None = None  # only events with (True) or without (False) a person


async def _where(conn: AsyncConn, flt: EventFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = ["TRUE"]
    p: dict[str, Any] = {}
    if len(flt.cameras) == 1:
        # An equality, not ANY(array): the planner estimates one camera's share better.
        clauses.append("e.camera_id = %(camera)s")
        p["camera"] = flt.cameras[0]
    elif flt.cameras:
        clauses.append("e.camera_id = ANY(%(cameras)s)")
        p["cameras"] = list(flt.cameras)
    if flt.deployment_id is not None:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT camera_id, start_ts, end_ts FROM deployments WHERE id = %s", (flt.deployment_id,)
            )
            dep = await cur.fetchone()
        if dep is None:
            raise ValidationFailed(
                f"requête refusée : deployment : déploiement inconnu : {flt.deployment_id}"
            )
        # The deployment's camera and period, as a range the (camera_id, start_ts) index serves.
        clauses.append(
            "e.camera_id = %(dep_camera)s AND e.start_ts >= %(dep_start)s"
            " AND (%(dep_end)s::timestamptz IS NULL OR e.start_ts < %(dep_end)s)"
        )
        p |= {"dep_camera": dep["camera_id"], "dep_start": dep["start_ts"], "dep_end": dep["end_ts"]}
    for name, clause in (
        ("start", "e.start_ts >= %(start)s"),
        ("end", "e.start_ts < %(end)s"),
        ("favourite", "e.favourite = %(favourite)s"),
        ("has_observations", "e.has_observations = %(has_observations)s"),
        ("min_confidence", "e.confidence >= %(min_confidence)s"),
        ("max_confidence", "e.confidence <= %(max_confidence)s"),
        ("doubt_guard", "e.doubt_guard = %(doubt_guard)s"),
        (
            "min_duration_s",
            "coalesce(e.end_ts, e.start_ts) - e.start_ts >= make_interval(secs => %(min_duration_s)s)",
        ),
    ):
        value = getattr(flt, name)
        if value is not None:
            clauses.append(clause)
            p[name] = value
    if flt.period is not None:
        clauses.append(_NIGHT if flt.period == "night" else f"NOT ({_NIGHT})")
    if flt.statuses:
        clauses.append("e.status = ANY(%(statuses)s)")
        p["statuses"] = list(flt.statuses)
    if flt.reviewed_by_me is not None:
        clauses.append("mine.event_id IS NOT NULL" if flt.reviewed_by_me else "mine.event_id IS NULL")
    if flt.species:
        clauses.append(
            "EXISTS (SELECT 1 FROM observations o WHERE o.event_id = e.id AND o.status <> 'rejected'"
            " AND o.scientific_name = ANY(%(species)s))"
        )
        p["species"] = list(flt.species)
    if flt.doubtful is not None:
        clauses.append("e.doubt_guard IS NOT NULL" if flt.doubtful else "e.doubt_guard IS NULL")
    if flt.hide_people or flt.person is False:
        clauses.append(f"NOT {people.HAS_PERSON}")
    elif flt.person:
        clauses.append(people.HAS_PERSON)
    return " AND ".join(clauses), p


def _cursor_key(sort: str, key: str | float) -> Any:
    """The cursor's key as the sort expression's type; a tampered one is refused (422)."""
    bad = ValidationFailed("requête refusée : cursor : curseur invalide (reprenez depuis la première page)")
    if sort == "start":
        if not isinstance(key, str):
            raise bad
        try:
            ts = datetime.fromisoformat(key)
        except ValueError:
            raise bad from None
        if ts.tzinfo is None:
            raise bad
        return ts
    if isinstance(key, str):
        raise bad
    return float(key)


def sort_value(row: dict[str, Any]) -> str | float:
    """The cursor key of a row (its sort_key column)."""
    value = row["sort_key"]
    return value.isoformat() if isinstance(value, datetime) else float(value)


async def page(
    conn: AsyncConn,
    flt: EventFilter,
    *,
    me: int,
    sort: str,
    order: str,
    limit: int,
    after: Cursor | None,
) -> tuple[list[dict[str, Any]], bool]:
    """(one page of events in (sort key, id) order, whether more follow)."""
    where, params = await _where(conn, flt)
    expr = SORTS[sort]
    direction = "DESC" if order == "desc" else "ASC"
    params |= {"me": me, "limit": limit + 1}
    if after is not None:
        where += f" AND ({expr}, e.id) {'<' if order == 'desc' else '>'} (%(after_key)s, %(after_id)s)"
        params |= {"after_key": _cursor_key(sort, after.key), "after_id": after.id}
        if sort == "confidence":
            where = where.replace("%(after_key)s", "%(after_key)s::real")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS}, {expr} AS sort_key FROM camera_events e {_DEPLOYMENT}"  # noqa: S608
            f" WHERE {where} ORDER BY {expr} {direction}, e.id {direction} LIMIT %(limit)s",
            params,
        )
        rows = await cur.fetchall()
    return rows[:limit], len(rows) > limit


async def count(conn: AsyncConn, flt: EventFilter, *, me: int) -> int:
    """How many events match the filters."""
    where, params = await _where(conn, flt)
    # Only the joins a filter reads: the deployment's lateral lookup, run for each of 100,000
    # events, made the gallery's unfiltered count 0.7-1.1 s (bench-review); without it the
    # count is an index-only scan.
    joins = (
        (_DEPLOYMENT_ONLY if flt.period is not None else "")
        + (_MINE if flt.reviewed_by_me is not None else "")
        + (people.JOINS if flt.hide_people or flt.person is not None else "")
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT count(*) AS n FROM camera_events e {joins} WHERE {where}",  # noqa: S608
            params | {"me": me},
        )
        row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def get(conn: AsyncConn, event_id: int, *, me: int, hide_people: bool = False) -> dict[str, Any]:
    """One event with its boxes and who reviewed it; NotFoundError if unknown (or, with
    hide_people, if it holds a person: a viewer cannot tell it from an unknown one)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS}, e.boxes FROM camera_events e {_DEPLOYMENT} WHERE e.id = %(id)s",  # noqa: S608
            {"id": event_id, "me": me},
        )
        row = await cur.fetchone()
        if row is None or (hide_people and row["person_hidden"]):
            raise NotFoundError(f"événement inconnu : {event_id}")
        await cur.execute(
            "SELECT u.login, r.reviewed_at FROM event_reviews r JOIN users u ON u.id = r.user_id"
            " WHERE r.event_id = %s ORDER BY r.reviewed_at, u.login",
            (event_id,),
        )
        row["reviews"] = await cur.fetchall()
    return row


@dataclass(frozen=True)
class MediaPaths:
    """An event's stored files, relative to the media directory (never from the request)."""

    clip: str | None
    snapshot: str | None
    thumbnail: str | None
    clip_start_ts: datetime | None
    peak_ts: datetime | None


async def media_paths(conn: AsyncConn, event_id: int, *, hide_people: bool = False) -> MediaPaths:
    """The stored paths of an event's files; NotFoundError if the event is unknown (or, with
    hide_people, holds a person)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.clip_path, e.snapshot_path, e.thumbnail_path, e.clip_start_ts, e.peak_ts,"  # noqa: S608
            f" {people.HAS_PERSON} AS person FROM camera_events e {people.JOINS} WHERE e.id = %s",
            (event_id,),
        )
        row = await cur.fetchone()
    if row is None or (hide_people and row["person"]):
        raise NotFoundError(f"événement inconnu : {event_id}")
    return MediaPaths(
        row["clip_path"], row["snapshot_path"], row["thumbnail_path"], row["clip_start_ts"], row["peak_ts"]
    )


async def existing(conn: AsyncConn, event_ids: list[int]) -> set[int]:
    """Which of these events exist."""
    cur = await conn.execute("SELECT id FROM camera_events WHERE id = ANY(%s)", (event_ids,))
    return {int(r[0]) for r in await cur.fetchall()}


async def clip_bounds(conn: AsyncConn, event_id: int) -> tuple[float | None, int]:
    """(the clip's length in seconds, or None while the event runs, the number of boxes)."""
    cur = await conn.execute(
        "SELECT extract(epoch FROM end_ts - coalesce(clip_start_ts, start_ts))::float8,"
        " jsonb_array_length(boxes) FROM camera_events WHERE id = %s",
        (event_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"événement inconnu : {event_id}")
    return (float(row[0]) if row[0] is not None else None), int(row[1])


async def mark_reviewed(conn: AsyncConn, event_ids: list[int], user_id: int) -> None:
    """This user has seen these events; a new event becomes reviewed."""
    await conn.execute(
        "INSERT INTO event_reviews (event_id, user_id) SELECT unnest(%s::bigint[]), %s"
        " ON CONFLICT DO NOTHING",
        (event_ids, user_id),
    )
    await conn.execute(
        "UPDATE camera_events SET status = 'reviewed' WHERE id = ANY(%s) AND status = 'new'", (event_ids,)
    )


async def unmark_reviewed(conn: AsyncConn, event_ids: list[int], user_id: int) -> None:
    """Undo this user's "reviewed"; an event nobody else reviewed is new again."""
    await conn.execute(
        "DELETE FROM event_reviews WHERE event_id = ANY(%s) AND user_id = %s", (event_ids, user_id)
    )
    await conn.execute(
        "UPDATE camera_events e SET status = 'new' WHERE e.id = ANY(%s) AND e.status = 'reviewed'"
        " AND NOT EXISTS (SELECT 1 FROM event_reviews r WHERE r.event_id = e.id)",
        (event_ids,),
    )


async def set_false_positive(conn: AsyncConn, event_ids: list[int], user_id: int, value: bool) -> None:
    """Mark (or unmark) these events as false positives; marking one counts as reviewing it."""
    if value:
        await mark_reviewed(conn, event_ids, user_id)
        await conn.execute(
            "UPDATE camera_events SET status = 'false_positive' WHERE id = ANY(%s)", (event_ids,)
        )
    else:
        await conn.execute(
            "UPDATE camera_events e SET status = CASE WHEN EXISTS (SELECT 1 FROM event_reviews r"
            " WHERE r.event_id = e.id) THEN 'reviewed' ELSE 'new' END"
            " WHERE e.id = ANY(%s) AND e.status = 'false_positive'",
            (event_ids,),
        )


async def set_favourite(conn: AsyncConn, event_ids: list[int], value: bool) -> None:
    """Favourite (or not) these events; retention keeps favourites."""
    await conn.execute("UPDATE camera_events SET favourite = %s WHERE id = ANY(%s)", (value, event_ids))


async def refresh_has_observations(conn: AsyncConn, event_ids: list[int]) -> None:
    """has_observations from the observations table (retention keeps events that have some)."""
    await conn.execute(
        "UPDATE camera_events e SET has_observations = EXISTS (SELECT 1 FROM observations o"
        " WHERE o.event_id = e.id) WHERE e.id = ANY(%s)",
        (event_ids,),
    )


@dataclass(frozen=True)
class Doomed:
    """An event about to be deleted, with its files (relative to the media directory)."""

    id: int
    paths: tuple[str, ...]


async def lock_for_delete(conn: AsyncConn, event_ids: list[int]) -> tuple[list[Doomed], dict[int, str]]:
    """(events that may be deleted, locked until the transaction ends; {id: why kept}).

    Favourites and events with a validated observation are kept."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.id, e.favourite, e.clip_path, e.snapshot_path, e.thumbnail_path,"
            " EXISTS (SELECT 1 FROM observations o WHERE o.event_id = e.id AND o.status = 'validated')"
            " AS validated FROM camera_events e WHERE e.id = ANY(%s) ORDER BY e.id FOR UPDATE",
            (event_ids,),
        )
        rows = await cur.fetchall()
    doomed: list[Doomed] = []
    kept: dict[int, str] = {}
    for row in rows:
        if row["favourite"]:
            kept[row["id"]] = "favori"
        elif row["validated"]:
            kept[row["id"]] = "observation validée"
        else:
            paths = tuple(p for p in (row["clip_path"], row["snapshot_path"], row["thumbnail_path"]) if p)
            doomed.append(Doomed(row["id"], paths))
    return doomed, kept


async def delete(conn: AsyncConn, event_ids: list[int]) -> None:
    """Delete these events' rows (their observations and review states go with them)."""
    await conn.execute("DELETE FROM camera_events WHERE id = ANY(%s)", (event_ids,))
