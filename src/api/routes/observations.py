"""Observations on events: several per event, each edit kept in a history, and the second
naturalist's validation (confirm, reject, or correct: the original is rejected and the
correction, classified by the validator, is the validated one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api.auth import Principal, require
from api.deps import Pool
from api.openapi import json_body
from api.queries import camera_events, observations, people
from api.route_roles import PEOPLE_SEE, REVIEW_READ, REVIEW_WRITE
from api.routes._common import VigieRoute, merge_patch, parse
from api.schemas.errors import error_responses
from api.schemas.observations import HistoryEntry, ObservationIn, ObservationOut, ValidationIn, ValidationOut
from vigie import species
from vigie.db import AsyncConn
from vigie.errors import NotFoundError, ValidationFailed
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/api/v1", tags=["review"], route_class=VigieRoute)

EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
ObservationId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Reader = Annotated[Principal, require(*REVIEW_READ)]
Writer = Annotated[Principal, require(*REVIEW_WRITE)]
# A client's rounding of the clip's length.
SLACK_S = 0.5


async def _columns(conn: AsyncConn, event_id: int, obs: ObservationIn, prefix: str) -> dict[str, Any]:
    """The stored columns: the list's spelling and French name for a known taxon, and the time
    span checked against the clip."""
    values = obs.columns()
    taxon = species.match(obs.scientific_name) if obs.scientific_name else None
    values["in_species_list"] = taxon is not None
    if taxon is not None:
        values["scientific_name"] = taxon.scientific_name
        values["vernacular_name"] = obs.vernacular_name or taxon.vernacular_name
    length, _ = await camera_events.clip_bounds(conn, event_id)
    if length is not None:
        for name in ("event_start_s", "event_end_s"):
            value = values[name]
            if value is not None and value > length + SLACK_S:
                raise ValidationFailed(f"{prefix} : {name} : hors du clip ({length:.1f} s)")
    return values


async def _check_visible(conn: AsyncConn, principal: Principal, event_id: int) -> None:
    """A viewer reads nothing of an event with a person: 404, as for an unknown event."""
    if not principal.holds(*PEOPLE_SEE) and await people.is_hidden(conn, event_id):
        raise NotFoundError(f"événement inconnu : {event_id}")


@router.get("/events/{event_id}/observations", responses=error_responses(404))
async def list_observations(pool: Pool, principal: Reader, event_id: EventId) -> list[ObservationOut]:
    """An event's observations, oldest first."""
    async with pool.connection() as conn:
        if not await camera_events.existing(conn, [event_id]):
            raise NotFoundError(f"événement inconnu : {event_id}")
        await _check_visible(conn, principal, event_id)
        return [ObservationOut.of(r) for r in await observations.for_event(conn, event_id)]


@router.post(
    "/events/{event_id}/observations",
    status_code=201,
    responses=error_responses(404),
    openapi_extra=json_body(ObservationIn),
)
async def create_observation(
    pool: Pool, principal: Writer, event_id: EventId, body: Annotated[dict[str, Any], Body()]
) -> ObservationOut:
    """Add an observation, classified by the caller, status "proposed". A name outside the
    species list is kept, with a warning."""
    obs = parse(ObservationIn, body, "observation refusée")
    async with pool.connection() as conn, conn.transaction():
        if not await camera_events.existing(conn, [event_id]):
            raise NotFoundError(f"événement inconnu : {event_id}")
        values = await _columns(conn, event_id, obs, "observation refusée")
        row = await observations.create(conn, event_id, values, principal.actor)
        await camera_events.refresh_has_observations(conn, [event_id])
    return ObservationOut.of(row)


@router.get("/observations/{observation_id}", responses=error_responses(404))
async def get_observation(pool: Pool, principal: Reader, observation_id: ObservationId) -> ObservationOut:
    """One observation."""
    async with pool.connection() as conn:
        row = await observations.get(conn, observation_id)
        try:
            await _check_visible(conn, principal, int(row["event_id"]))
        except NotFoundError:
            raise NotFoundError(f"observation inconnue : {observation_id}") from None
        return ObservationOut.of(row)


@router.patch(
    "/observations/{observation_id}",
    responses=error_responses(404),
    openapi_extra=json_body(ObservationIn, required=True),
)
async def patch_observation(
    pool: Pool, principal: Writer, observation_id: ObservationId, body: Annotated[dict[str, Any], Body()]
) -> ObservationOut:
    """Merge patch; the whole result is validated again, the caller becomes its classifier and
    it is "proposed" again (a validated observation that changes needs a new validation)."""
    async with pool.connection() as conn, conn.transaction():
        current = await observations.get(conn, observation_id, lock=True)
        merged = merge_patch(ObservationIn.from_row(current), body)
        obs = parse(ObservationIn, merged, "modification refusée")
        values = await _columns(conn, current["event_id"], obs, "modification refusée")
        row = await observations.update(conn, observation_id, values, principal.actor)
    return ObservationOut.of(row)


@router.delete("/observations/{observation_id}", status_code=204, responses=error_responses(404))
async def delete_observation(pool: Pool, principal: Writer, observation_id: ObservationId) -> None:
    """Delete an observation; its history stays readable."""
    async with pool.connection() as conn, conn.transaction():
        event_id = await observations.delete(conn, observation_id, principal.actor)
        await camera_events.refresh_has_observations(conn, [event_id])


@router.get("/observations/{observation_id}/history", responses=error_responses(404))
async def observation_history(
    pool: Pool, principal: Reader, observation_id: ObservationId
) -> list[HistoryEntry]:
    """Every change of an observation, oldest first, with its state after each."""
    async with pool.connection() as conn:
        rows = await observations.history(conn, observation_id)
        if rows and not principal.holds(*PEOPLE_SEE):
            event_id = int(rows[-1]["event_id"])
            # After a deletion the event may be gone too: then there is no person left to hide.
            if await camera_events.existing(conn, [event_id]) and await people.is_hidden(conn, event_id):
                raise NotFoundError(f"observation inconnue : {observation_id}")
        return [HistoryEntry.model_validate(r) for r in rows]


@router.post(
    "/observations/{observation_id}/validation",
    responses=error_responses(404, 409),
    openapi_extra=json_body(ValidationIn),
)
async def validate_observation(
    pool: Pool, principal: Writer, observation_id: ObservationId, body: Annotated[dict[str, Any], Body()]
) -> ValidationOut:
    """A second naturalist (never the author) confirms, rejects or corrects a proposed
    observation; 409 for the author or an observation already judged."""
    verdict = parse(ValidationIn, body, "validation refusée")
    correction = None
    async with pool.connection() as conn, conn.transaction():
        status = "validated" if verdict.decision == "confirm" else "rejected"
        judged = await observations.decide(conn, observation_id, status, principal.actor, verdict.comment)
        if verdict.correction is not None:
            event_id = judged["event_id"]
            values = await _columns(conn, event_id, verdict.correction, "validation refusée")
            correction = await observations.create(
                conn,
                event_id,
                values,
                principal.actor,
                corrects_id=observation_id,
                status="validated",
                validated_by_id=principal.actor.id,
                validated_by=principal.actor.name,
                validated_at=datetime.now(UTC),
                validation_comment=verdict.comment,
            )
    return ValidationOut(
        observation=ObservationOut.of(judged),
        correction=ObservationOut.of(correction) if correction is not None else None,
    )
