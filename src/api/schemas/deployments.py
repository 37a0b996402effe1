"""Request and response models of deployments (Camtrap DP's deployment, in the API's names)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.observations import _text

FeatureType = Literal[
    "roadPaved",
    "roadDirt",
    "trailHiking",
    "trailGame",
    "roadUnderpass",
    "roadOverpass",
    "roadBridge",
    "culvert",
    "burrow",
    "nestSite",
    "carcass",
    "waterSource",
    "fruitingTree",
]
CAMERA_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"


class DeploymentIn(BaseModel):
    """A camera at a place for a period (end null: still there)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "camera_id": "etang-nord",
                    "location_name": "Étang du Plessis, rive nord",
                    "lat": 49.486,
                    "lon": 2.861,
                    "coordinate_uncertainty_m": 10,
                    "habitat": "roselière, bord d'étang",
                    "feature_type": "waterSource",
                    "camera_height_m": 0.8,
                    "camera_tilt_deg": -10,
                    "camera_heading_deg": 200,
                    "setup_by": "Claire Durand",
                    "start_ts": "2026-11-01T09:00:00+01:00",
                }
            ]
        },
    )

    camera_id: str = Field(pattern=CAMERA_ID)
    location_name: str | None = Field(default=None, max_length=200)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    coordinate_uncertainty_m: int | None = Field(default=None, ge=1, le=100000)
    habitat: str | None = Field(default=None, max_length=500)
    feature_type: FeatureType | None = None
    camera_height_m: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    camera_tilt_deg: int | None = Field(
        default=None, ge=-90, le=90, description="cameraTilt : 0 horizontale, -90 vers le sol"
    )
    camera_heading_deg: int | None = Field(
        default=None, ge=0, le=360, description="cameraHeading : 0 nord, 90 est"
    )
    setup_by: str | None = Field(default=None, max_length=200)
    comments: str | None = Field(default=None, max_length=5000)
    start_ts: AwareDatetime
    end_ts: AwareDatetime | None = None

    _clean = field_validator("location_name", "habitat", "setup_by", "comments")(_text)

    @model_validator(mode="after")
    def _period(self) -> DeploymentIn:
        if self.end_ts is not None and self.end_ts <= self.start_ts:
            raise ValueError("end_ts doit suivre start_ts")
        return self


class DeploymentOut(DeploymentIn):
    """A deployment as stored."""

    model_config = ConfigDict(extra="ignore")

    id: int
    start_ts: datetime  # stored values are always aware
    end_ts: datetime | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime


class DeploymentPage(BaseModel):
    """Deployments, newest start first."""

    total: int
    limit: int
    offset: int
    items: list[DeploymentOut]
