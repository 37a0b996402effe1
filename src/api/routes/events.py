"""The review's events: the gallery's filtered, cursor-paginated list, one event's detail, the
caller's review state of an event, and actions over a selection (bulk)."""

from __future__ import annotations

import re
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from fastapi.concurrency import run_in_threadpool

from api import cursor as cursors
from api import media_files
from api.accounts import audit
from api.auth import Principal, require
from api.deps import Pool, SettingsDep
from api.openapi import json_body
from api.queries import camera_events, observations, people
from api.route_roles import PEOPLE_SEE, REVIEW_READ, REVIEW_WRITE
from api.routes._common import VigieRoute, parse
from api.schemas.errors import error_responses
from api.schemas.events import BulkIn, BulkOut, EventDetail, EventItem, EventPage, EventPatch, Kept
from api.schemas.observations import ObservationIn, ObservationOut
from api.validation import IsoAwareDatetime
from vigie import species
from vigie.db import AsyncConn
from vigie.errors import NotFoundError, ValidationFailed
from vigie.ids import BIGINT_MAX, PRINTABLE

router = APIRouter(prefix="/api/v1/events", tags=["review"], route_class=VigieRoute)
# Not under /api/v1/events: "bulk" there would be read as an event id by the other methods.
bulk_router = APIRouter(prefix="/api/v1/bulk", tags=["review"], route_class=VigieRoute)

EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Reader = Annotated[Principal, require(*REVIEW_READ)]
Writer = Annotated[Principal, require(*REVIEW_WRITE)]
CAMERA_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
MAX_LIST_FILTER = 50


def hides_people(principal: Principal) -> bool:
    """Whether events with a person are hidden from this caller (viewers: RGPD)."""
    return not principal.holds(*PEOPLE_SEE)


def user_id(principal: Principal) -> int:
    """The caller's account id (every review role is held by an account)."""
    if principal.user_id is None:  # pragma: no cover - require() admits accounts only
        raise NotFoundError("compte inconnu")
    return principal.user_id


@router.get("", responses=error_responses(422))
async def list_events(
    pool: Pool,
    principal: Reader,
    camera: Annotated[list[str] | None, Query(max_length=MAX_LIST_FILTER)] = None,
    deployment: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    start: Annotated[IsoAwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[IsoAwareDatetime | None, Query(alias="to")] = None,
    period: Literal["day", "night"] | None = None,
    status: Annotated[list[Literal["new", "reviewed", "false_positive"]] | None, Query(max_length=3)] = None,
    reviewed_by_me: bool | None = None,
    species_name: Annotated[
        # No control character: a NUL reached PostgreSQL as a DataError, i.e. a 500.
        list[Annotated[str, Query(min_length=1, max_length=200, pattern=PRINTABLE)]] | None,
        Query(alias="species", max_length=MAX_LIST_FILTER),
    ] = None,
    has_observations: bool | None = None,
    favourite: bool | None = None,
    min_duration_s: Annotated[float | None, Query(ge=0, le=86400)] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    doubtful: bool | None = None,
    doubt_guard: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    person: bool | None = None,
    sort: Literal["start", "confidence", "duration", "peak_score"] = "start",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=cursors.MAX_CURSOR_CHARS)] = None,
    with_total: bool = False,
) -> EventPage:
    """Events in (sort, id) order; `cursor` is the previous page's next_cursor."""
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("requête refusée : 'to' doit être postérieur à 'from'")
    for name in camera or []:
        if not _is_camera_id(name):
            raise ValidationFailed("requête refusée : camera : identifiant de caméra invalide")
    flt = camera_events.EventFilter(
        cameras=tuple(camera or ()),
        deployment_id=deployment,
        start=start,
        end=end,
        period=period,
        statuses=tuple(status or ()),
        reviewed_by_me=reviewed_by_me,
        species=tuple(species_name or ()),
        has_observations=has_observations,
        favourite=favourite,
        min_duration_s=min_duration_s,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        doubtful=doubtful,
        doubt_guard=doubt_guard,
        hide_people=hides_people(principal),
        person=person,
    )
    after = cursors.decode(cursor, sort, order) if cursor else None
    me = user_id(principal)
    async with pool.connection() as conn:
        rows, more = await camera_events.page(
            conn, flt, me=me, sort=sort, order=order, limit=limit, after=after
        )
        total = None
        if with_total:
            # A first page that holds every match is its own count (the gallery asks a total on
            # each page; a selective filter's answer fits in one): no second query then.
            complete = after is None and not more
            total = len(rows) if complete else await camera_events.count(conn, flt, me=me)
    next_cursor = (
        cursors.encode(cursors.Cursor(sort, order, camera_events.sort_value(rows[-1]), rows[-1]["id"]))
        if more and rows
        else None
    )
    return EventPage(
        items=[EventItem.of(r) for r in rows],
        next_cursor=next_cursor,
        limit=limit,
        sort=sort,
        order=order,
        total=total,
    )


def _is_camera_id(name: str) -> bool:
    return re.fullmatch(CAMERA_ID, name) is not None


async def _detail(pool: Pool, event_id: int, me: int, *, hide_people: bool = False) -> EventDetail:
    async with pool.connection() as conn:
        row = await camera_events.get(conn, event_id, me=me, hide_people=hide_people)
        obs = await observations.for_event(conn, event_id)
        person_boxes = await people.proposal_boxes(conn, event_id)
    item = EventItem.of(row)
    return EventDetail.model_validate(
        {
            **item.model_dump(),
            "boxes": row["boxes"],
            "person_boxes": person_boxes,
            "observations": [ObservationOut.of(o) for o in obs],
            "reviews": row["reviews"],
        }
    )


@router.get("/{event_id}", responses=error_responses(404))
async def get_event(pool: Pool, principal: Reader, event_id: EventId) -> EventDetail:
    """One event with its motion boxes, observations and who reviewed it."""
    return await _detail(pool, event_id, user_id(principal), hide_people=hides_people(principal))


@router.patch("/{event_id}", responses=error_responses(404), openapi_extra=json_body(EventPatch))
async def patch_event(
    pool: Pool, principal: Writer, event_id: EventId, body: Annotated[dict[str, Any], Body()]
) -> EventDetail:
    """The caller's review state: reviewed (false: "mark as not reviewed"), false_positive,
    favourite, and person (true: a person is in it, hidden from viewers; false: none, the
    detector's proposal set aside; null: the naturalist's word withdrawn). Marking a false
    positive also marks it reviewed by the caller. A person flag change is audit-logged."""
    patch = parse(EventPatch, body, "modification refusée")
    me = user_id(principal)
    ids = [event_id]
    async with pool.connection() as conn, conn.transaction():
        if not await camera_events.existing(conn, ids):
            raise NotFoundError(f"événement inconnu : {event_id}")
        if patch.reviewed is True:
            await camera_events.mark_reviewed(conn, ids, me)
        elif patch.reviewed is False:
            await camera_events.unmark_reviewed(conn, ids, me)
        if patch.false_positive is not None:
            await camera_events.set_false_positive(conn, ids, me, patch.false_positive)
        if patch.favourite is not None:
            await camera_events.set_favourite(conn, ids, patch.favourite)
        if "person" in patch.model_fields_set:
            await _flag_people(conn, ids, patch.person, principal, f"/api/v1/events/{event_id}")
    return await _detail(pool, event_id, me)


async def _flag_people(
    conn: AsyncConn, ids: list[int], person: bool | None, principal: Principal, target: str
) -> None:
    before = await people.set_flag(conn, ids, person, principal.actor)
    await audit.record(
        conn,
        principal.actor,
        "events.person_flag",
        target,
        {
            "person": person,
            "events": [
                {"id": b["id"], "before": b["flag"], "proposed": b["proposed"]} for b in before
            ],
        },
    )


def _unlink(media_dir: FsPath, doomed: list[camera_events.Doomed]) -> None:
    for event in doomed:
        files = [
            p for p in (media_files.inside(media_dir, stored) for stored in event.paths) if p is not None
        ]
        # Pictures the API made from the clip (poster, stand-in snapshot/thumbnail) go too; found
        # before the clip itself is gone.
        clip = files[0] if files and files[0].suffix == ".mp4" else None
        if clip is not None:
            files += [
                clip.with_name(clip.stem + s) for s in (".poster.jpg", ".thumb.jpg", ".jpg", ".blurred.mp4")
            ]
        for path in files:
            path.unlink(missing_ok=True)


@bulk_router.post("/events", responses=error_responses(422), openapi_extra=json_body(BulkIn))
async def bulk(
    pool: Pool, settings: SettingsDep, principal: Writer, body: Annotated[dict[str, Any], Body()]
) -> BulkOut:
    """One action over up to 500 events. `tag` adds an observation of `scientific_name`
    (`count`, default 1) to each; `delete` keeps favourites and events with a validated
    observation, deletes the others' files and rows, and is written to the audit log."""
    request = parse(BulkIn, body, "action refusée")
    try:
        ids = request.checked_ids()
    except ValueError as exc:
        raise ValidationFailed(f"action refusée : ids : {exc}") from None
    warnings: list[str] = []
    taxon = None
    if request.action == "tag":
        if not request.scientific_name:
            raise ValidationFailed("action refusée : scientific_name : obligatoire pour « tag »")
        taxon = species.match(request.scientific_name)
        if taxon is None:
            warnings.append("nom libre : ce nom n'est pas dans la liste des espèces")
    me = user_id(principal)
    kept: list[Kept] = []
    async with pool.connection() as conn, conn.transaction():
        found = await camera_events.existing(conn, ids)
        targets = [i for i in ids if i in found]
        unknown = [i for i in ids if i not in found]
        done = targets
        match request.action:
            case "reviewed":
                await camera_events.mark_reviewed(conn, targets, me)
            case "not_reviewed":
                await camera_events.unmark_reviewed(conn, targets, me)
            case "false_positive" | "not_false_positive":
                await camera_events.set_false_positive(conn, targets, me, request.action == "false_positive")
            case "favourite" | "unfavourite":
                await camera_events.set_favourite(conn, targets, request.action == "favourite")
            case "person" | "no_person":
                if targets:
                    await _flag_people(
                        conn, targets, request.action == "person", principal, "/api/v1/bulk/events"
                    )
            case "tag":
                values = ObservationIn(
                    scientific_name=taxon.scientific_name if taxon else request.scientific_name,
                    vernacular_name=taxon.vernacular_name if taxon else None,
                    count=request.count or 1,
                ).columns() | {"in_species_list": taxon is not None}
                for event_id in targets:
                    await observations.create(conn, event_id, values, principal.actor)
                await camera_events.refresh_has_observations(conn, targets)
            case "delete":
                doomed, why = await camera_events.lock_for_delete(conn, targets)
                kept = [Kept(id=i, reason=r) for i, r in sorted(why.items())]
                done = [d.id for d in doomed]
                # Files first, then rows (as retention does): a failure in between leaves a row
                # without files, never a file that no row accounts for.
                await run_in_threadpool(_unlink, settings.camera.media_dir, doomed)
                await camera_events.delete(conn, done)
                await audit.record(
                    conn,
                    principal.actor,
                    "events.deleted",
                    "/api/v1/bulk/events",
                    {"deleted": done, "kept": [k.id for k in kept], "unknown": unknown},
                )
    return BulkOut(action=request.action, done=done, kept=kept, unknown=unknown, warnings=warnings)
