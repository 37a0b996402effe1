"""Catchments as written by an administrator: area, curve number, gauges, polygon, Montana.

The engine reads these rows every few minutes; anything it could not use (a polygon that is
not a polygon, Montana coefficients it would reject) is refused here, with a French reason,
rather than discovered later in the engine's log. Whether communes, stations and upstream
catchments exist is checked by the caller against the database. Pure: no database, no I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

CATCHMENT_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
INSEE = Annotated[str, StringConstraints(pattern=r"^60[0-9]{3}$")]
UpstreamId = Annotated[str, StringConstraints(pattern=CATCHMENT_ID)]
MAX_POLYGON_POINTS = 5000
Coordinate = Annotated[float, Field(allow_inf_nan=False)]


class AB(BaseModel):
    """Montana coefficients for one return period: h(t) = a·t^(1-b)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: float = Field(gt=0, le=1e4, allow_inf_nan=False)
    b: float = Field(gt=0, lt=1, allow_inf_nan=False)


class MontanaBand(BaseModel):
    """Coefficients valid for durations in [min_duration_min, max_duration_min]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_duration_min: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    max_duration_min: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    coefficients: dict[str, AB] = Field(min_length=2, max_length=20)

    @model_validator(mode="after")
    def _band(self) -> MontanaBand:
        if self.min_duration_min >= self.max_duration_min:
            raise ValueError("bande de durée vide : min_duration_min doit être < max_duration_min")
        for period in self.coefficients:
            try:
                years = float(period)
            except ValueError:
                raise ValueError(f"période de retour '{period[:20]}' : nombre d'années attendu") from None
            if not 0 < years <= 1000:
                raise ValueError("période de retour hors de ]0, 1000] ans")
        return self


class Montana(BaseModel):
    """Inline Montana coefficients of a catchment (same shape as montana_sets.coefficients)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: list[MontanaBand] = Field(min_length=1, max_length=10)


class Polygon(BaseModel):
    """A GeoJSON Polygon in lon/lat: closed rings of at least four positions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["Polygon"]
    coordinates: list[list[tuple[Coordinate, Coordinate]]] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _rings(self) -> Polygon:
        total = 0
        for ring in self.coordinates:
            if len(ring) < 4:
                raise ValueError("un anneau de polygone a au moins 4 positions")
            if ring[0] != ring[-1]:
                raise ValueError("un anneau de polygone doit être fermé (dernier point = premier)")
            for lon, lat in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValueError("position hors des bornes [lon, lat] (WGS 84)")
            total += len(ring)
        if total > MAX_POLYGON_POINTS:
            raise ValueError(f"polygone trop détaillé (au plus {MAX_POLYGON_POINTS} positions)")
        return self


class CatchmentStation(BaseModel):
    """A gauge of the catchment and its Thiessen-style weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    station_id: str = Field(pattern=CATCHMENT_ID)
    weight: float = Field(default=1.0, gt=0, le=1e6, allow_inf_nan=False)


class CatchmentBody(BaseModel):
    """Everything of a catchment but its id (the body of PUT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    area_km2: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    cn2: float = Field(gt=0, le=100, allow_inf_nan=False)
    communes: list[INSEE] = Field(default_factory=list, max_length=64)
    upstream: list[UpstreamId] = Field(default_factory=list, max_length=64)
    stations: list[CatchmentStation] = Field(default_factory=list, max_length=200)
    polygon: Polygon | None = None
    montana: Montana | None = None

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in name) or not name.strip():
            raise ValueError("le nom ne doit pas être vide ni contenir de caractères de contrôle")
        return name.strip()

    @model_validator(mode="after")
    def _no_duplicates(self) -> CatchmentBody:
        for label, items in (
            ("communes", self.communes),
            ("upstream", self.upstream),
            ("stations", [s.station_id for s in self.stations]),
        ):
            if len(set(items)) != len(items):
                raise ValueError(f"{label} : élément en double")
        return self


class CatchmentIn(CatchmentBody):
    """A catchment as created by an administrator (POST)."""

    id: str = Field(pattern=CATCHMENT_ID)

    @model_validator(mode="after")
    def _not_its_own_upstream(self) -> CatchmentIn:
        if self.id in self.upstream:
            raise ValueError("un bassin ne peut pas être en amont de lui-même")
        return self
