"""The species list (vigie/data/species.csv) for the species picker: searched as one types,
accents and case ignored, in French or scientific names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import require
from api.route_roles import REVIEW_READ
from api.routes._common import VigieRoute
from api.schemas.errors import error_responses
from vigie import species

router = APIRouter(prefix="/api/v1/species", tags=["review"], route_class=VigieRoute)


class TaxonOut(BaseModel):
    """One taxon of the list."""

    scientific_name: str
    vernacular_name: str = Field(description="nom vernaculaire français")
    taxon_class: str = Field(description="Mammalia, Aves, Reptilia ou Amphibia")
    rank: str
    taxref_cd_nom: int | None = Field(description="CD_NOM de TAXREF, quand il est connu")
    gbif_key: int | None = Field(description="usageKey du GBIF Backbone, quand il est connu")


@router.get("", dependencies=[require(*REVIEW_READ)], responses=error_responses(422))
async def search_species(
    q: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[TaxonOut]:
    """Taxa whose French or scientific name contains q (accents and case ignored), names that
    start with it first; without q, the list in its order."""
    return [TaxonOut.model_validate(t, from_attributes=True) for t in species.search(q, limit)]
