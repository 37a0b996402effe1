"""The species' reference pictures: a naturalist marks a frame of a clip (an event and a time
in it) as a species' picture, which the viewer shows beside any clip where that species is
observed. No picture of the list ships with the project (none could be shipped with a checked
licence from npm, PyPI or Debian), so the pictures are the project's own frames."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api import frames, media_files
from api.auth import Principal, require
from api.deps import Pool, SettingsDep
from api.openapi import json_body
from api.queries import camera_events, species_references
from api.route_roles import REVIEW_READ, REVIEW_WRITE
from api.routes._common import VigieRoute, parse
from api.schemas.errors import error_responses
from vigie import species
from vigie.errors import NotFoundError, ValidationFailed
from vigie.ids import BIGINT_MAX, PRINTABLE

router = APIRouter(prefix="/api/v1", tags=["review"], route_class=VigieRoute)
Reader = Annotated[Principal, require(*REVIEW_READ)]
Writer = Annotated[Principal, require(*REVIEW_WRITE)]
EventId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
# The viewer's picture beside the clip: wide enough for a tablet's side column.
FRAME_WIDTH = 480


class ReferenceIn(BaseModel):
    """The frame to use as a species' picture."""

    model_config = ConfigDict(extra="forbid")

    scientific_name: str = Field(min_length=1, max_length=200, description="un nom de la liste des espèces")
    event_id: int = Field(ge=1, le=BIGINT_MAX)
    t: float = Field(ge=0, le=86400, description="secondes depuis la première image du clip")


class ReferenceOut(BaseModel):
    """A species' reference frame, with the URL of its picture."""

    scientific_name: str
    event_id: int
    t: float
    chosen_by: str
    chosen_at: datetime
    image: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> ReferenceOut:
        return cls(
            scientific_name=row["scientific_name"],
            event_id=row["event_id"],
            t=row["at_s"],
            chosen_by=row["chosen_by"],
            chosen_at=row["chosen_at"],
            image=frame_url(row["event_id"], row["at_s"]),
        )


def frame_url(event_id: int, t: float) -> str:
    """The picture of a clip's frame (GET /api/v1/events/{id}/frame)."""
    return f"/api/v1/events/{event_id}/frame?t={t:.3f}"


@router.put(
    "/species-references",
    responses=error_responses(404, 422),
    openapi_extra=json_body(ReferenceIn, required=True),
)
async def choose_reference(
    pool: Pool, principal: Writer, body: Annotated[dict[str, Any], Body()]
) -> ReferenceOut:
    """Make this frame (an event's clip at t seconds) the species' reference picture; it
    replaces the species' previous one. The name must be one of the list."""
    ref = parse(ReferenceIn, body, "image de référence refusée")
    taxon = species.match(ref.scientific_name)
    if taxon is None:
        raise ValidationFailed(
            f"image de référence refusée : {ref.scientific_name} n'est pas dans la liste des espèces"
        )
    async with pool.connection() as conn, conn.transaction():
        length, _ = await camera_events.clip_bounds(conn, ref.event_id)
        paths = await camera_events.media_paths(conn, ref.event_id)
        if paths.clip is None:
            raise ValidationFailed("image de référence refusée : cet événement n'a pas de clip")
        if length is not None and ref.t > length:
            raise ValidationFailed(f"image de référence refusée : t au-delà du clip ({length:.1f} s)")
        row = await species_references.choose(
            conn, taxon.scientific_name, ref.event_id, ref.t, principal.name
        )
    return ReferenceOut.of(row)


@router.get("/species-references", responses=error_responses(422))
async def list_references(
    pool: Pool,
    _: Reader,
    # No control character: PostgreSQL refuses NUL in text (make test's schemathesis run at
    # 02:52 found the 500), and no species' name has one.
    name: Annotated[
        list[Annotated[str, Query(min_length=1, max_length=200, pattern=PRINTABLE)]] | None,
        Query(max_length=50),
    ] = None,
) -> list[ReferenceOut]:
    """The species' reference frames (of these names only, when given)."""
    async with pool.connection() as conn:
        rows = await species_references.for_names(conn, name)
    return [ReferenceOut.of(r) for r in rows]


@router.get(
    "/events/{event_id}/frame",
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 422)},
    response_class=Response,
)
async def clip_frame(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    _: Reader,
    event_id: EventId,
    t: Annotated[float, Query(ge=0, le=86400)] = 0.0,
) -> Response:
    """A JPEG of the event's clip at t seconds (480 px wide at most), made on request and not
    kept on disk (any t may be asked; the browser keeps it an hour)."""
    async with pool.connection() as conn:
        paths = await camera_events.media_paths(conn, event_id)
    clip = media_files.inside(settings.camera.media_dir, paths.clip)
    if clip is None:
        raise NotFoundError("média introuvable pour cet événement")
    data = await run_in_threadpool(frames.frame_jpeg, clip, t, FRAME_WIDTH)
    if data is None:
        raise NotFoundError("image impossible à extraire du clip de cet événement")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
