"""The 16 communes of the territory, from the official reference files the package ships.

`data/communes.csv` is the INSEE list (codes, names, populations) from the npm package
`@etalab/decoupage-administratif` 6.0.0; `data/communes.geojson` their outlines (IGN Admin
Express COG 2018, Licence Ouverte). `data/COMMUNES-SOURCE.md` says where each comes from. The
database's `communes` table is seeded by the migrations to the same list, and a test keeps the
two equal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Shown wherever the outlines are drawn (the licence asks for it).
OUTLINES_CREDIT = "Contours : IGN Admin Express COG 2018, Licence Ouverte"


@dataclass(frozen=True)
class OfficialCommune:
    """One row of the official list."""

    insee: str
    name: str
    population: int
    postal_codes: tuple[str, ...]


def _data(name: str) -> str:
    return resources.files("vigie.data").joinpath(name).read_text("utf-8")


@cache
def official_communes() -> tuple[OfficialCommune, ...]:
    """The official list, in INSEE order."""
    rows = csv.DictReader(io.StringIO(_data("communes.csv")))
    return tuple(
        OfficialCommune(
            r["insee"], r["name"], int(r["population"]), tuple(re.findall(r"\d{5}", r["postal_codes"]))
        )
        for r in rows
    )


@cache
def outlines_geojson() -> dict[str, Any]:
    """The communes' outlines as a GeoJSON FeatureCollection (properties `code`, `nom`)."""
    data: dict[str, Any] = json.loads(_data("communes.geojson"))
    return data
