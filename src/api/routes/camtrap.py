"""The naturalists' publications: the Camtrap DP 1.0.2 export (a zip, streamed, audit-logged)
and the species summary (counts per species, deployment and month, as JSON or CSV). Both carry
the consensus of each event's observations and leave false positives out (api.queries.camtrap)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api import camtrap
from api.accounts import audit
from api.auth import Principal, require
from api.deps import Pool, SettingsDep
from api.export import BOM
from api.queries import camtrap as queries
from api.route_roles import PEOPLE_EXPORT, PEOPLE_SEE, REVIEW_READ, REVIEW_WRITE
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from api.validation import IsoAwareDatetime
from vigie import species
from vigie.errors import ValidationFailed
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/api/v1", tags=["review"], route_class=VigieRoute)

MAX_DEPLOYMENTS = 50
# Camera traps of this project record from the 2020s on: a bound outside these years is a typo.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
DeploymentIds = Annotated[
    list[Annotated[int, Query(ge=1, le=BIGINT_MAX)]] | None, Query(max_length=MAX_DEPLOYMENTS)
]


def check_range(start: datetime | None, end: datetime | None) -> None:
    """Reversed or absurd ranges are refused in French."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and not EARLIEST <= value < LATEST:
            raise ValidationFailed(f"requête refusée : {name} : date hors des années 2000 à 2099")
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("requête refusée : 'end' doit être postérieur à 'start'")


async def _known(pool: Pool, ids: list[int] | None) -> list[int] | None:
    if not ids:
        return None
    wanted = sorted(set(ids))
    async with pool.connection() as conn:
        found = await queries.existing_deployments(conn, wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationFailed(f"requête refusée : déploiement inconnu : {', '.join(map(str, missing))}")
    return wanted


@router.get(
    "/camtrap-dp.zip",
    responses={**error_responses(403, 422), 200: {"content": {"application/zip": {}}}},
    response_class=StreamingResponse,
)
async def camtrap_export(
    pool: Pool,
    settings: SettingsDep,
    principal: Annotated[Principal, require(*REVIEW_WRITE)],
    start: IsoAwareDatetime | None = None,
    end: IsoAwareDatetime | None = None,
    deployment: DeploymentIds = None,
    media: Literal["url", "files"] = "url",
    include_people: bool = False,
) -> StreamingResponse:
    """A Camtrap DP 1.0.2 package of the events whose start is in [start, end), of the chosen
    deployments (default: every deployment overlapping the range), streamed as a zip. Clips are
    referenced by their API URL (media=url) or included (media=files). Events with a person
    are left out; `include_people=true` (admin only) puts them in, with the people blurred."""
    if include_people and not principal.holds(PEOPLE_EXPORT):
        raise HTTPException(
            403, "accès refusé : seul un administrateur inclut les événements avec des personnes"
        )
    check_range(start, end)
    ids = await _known(pool, deployment)
    async with pool.connection() as conn:
        deps = await queries.deployments(conn, start, end, ids)
        if not deps:
            raise ValidationFailed("requête refusée : aucun déploiement ne couvre cette période")
        # Recorded before the first byte: an export that is cut off was still asked for.
        await audit.record(
            conn,
            principal.actor,
            "export",
            "/api/v1/camtrap-dp.zip",
            {
                "format": "camtrap-dp-1.0.2",
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
                "deployments": [int(d["id"]) for d in deps],
                "media": media,
                "include_people": include_people,
            },
        )
    req = camtrap.Request(
        start=start,
        end=end,
        deployments=deps,
        media=media,
        public_url=settings.public_url,
        media_dir=settings.camera.media_dir,
        exported_by=principal.name,
        include_people=include_people,
    )
    name = f"vigie-camtrap-dp-{datetime.now(UTC):%Y%m%d-%H%M%S}.zip"
    return StreamingResponse(
        camtrap.package(pool, req),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class SpeciesCount(BaseModel):
    """Consensus counts of one species at one deployment in one month."""

    scientific_name: str
    vernacular_name: str | None
    deployment_id: int | None
    location_name: str | None
    month: str
    observations: int
    individuals: int
    events: int


class SpeciesSummary(BaseModel):
    """The counts, by species, then deployment, then month."""

    start: datetime | None
    end: datetime | None
    timezone: str
    items: list[SpeciesCount]


CSV_HEADER = (
    "nom_scientifique",
    "nom_vernaculaire",
    "deploiement",
    "lieu",
    "mois",
    "observations",
    "individus",
    "evenements",
)


def _counts(rows: list[dict[str, Any]]) -> list[SpeciesCount]:
    out = []
    for r in rows:
        taxon = species.lookup(r["scientific_name"])
        out.append(
            SpeciesCount(
                scientific_name=r["scientific_name"],
                vernacular_name=taxon.vernacular_name if taxon else None,
                deployment_id=r["deployment_id"],
                location_name=r["location_name"],
                month=r["month"],
                observations=int(r["observations"]),
                individuals=int(r["individuals"]),
                events=int(r["events"]),
            )
        )
    return out


async def _csv(items: list[SpeciesCount]) -> AsyncIterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for c in items:
        writer.writerow(
            [
                c.scientific_name,
                c.vernacular_name or "",
                "" if c.deployment_id is None else c.deployment_id,
                c.location_name or "",
                c.month,
                c.observations,
                c.individuals,
                c.events,
            ]
        )
    yield BOM + buf.getvalue()


@router.get(
    "/species-summary",
    responses={**error_responses(422), 200: {"content": {"text/csv": {}}}},
    response_model=None,
)
async def species_summary(
    pool: Pool,
    settings: SettingsDep,
    principal: Annotated[Principal, require(*REVIEW_READ)],
    start: IsoAwareDatetime | None = None,
    end: IsoAwareDatetime | None = None,
    deployment: DeploymentIds = None,
    format: Literal["json", "csv"] = "json",
) -> SpeciesSummary | StreamingResponse:
    """Consensus counts per species, deployment and month (local months): observations,
    individuals and events. CSV for a French spreadsheet (`;`, UTF-8 with a BOM)."""
    check_range(start, end)
    ids = await _known(pool, deployment)
    async with pool.connection() as conn:
        rows = await queries.species_summary(
            conn, start, end, ids, settings.timezone, hide_people=not principal.holds(*PEOPLE_SEE)
        )
    items = _counts(rows)
    if format == "csv":
        return StreamingResponse(
            _csv(items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="vigie-especes.csv"'},
        )
    return SpeciesSummary(start=start, end=end, timezone=settings.timezone, items=items)
