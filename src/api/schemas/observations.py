"""Request and response models of observations (Camtrap DP's terms in the descriptions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ObservationType = Literal["animal", "human", "vehicle", "blank", "unknown", "unclassified"]
LifeStage = Literal["adult", "subadult", "juvenile"]
Sex = Literal["female", "male"]
ObservationStatus = Literal["proposed", "validated", "rejected"]
# A float slack for "x + w <= 1" after a client's rounding.
_EDGE = 1.000001


def _text(value: str | None) -> str | None:
    """Trimmed text without control characters (newlines and tabs allowed); empty -> None."""
    if value is None:
        return None
    if any(ord(c) < 32 and c not in "\n\t" for c in value) or "\x7f" in value:
        raise ValueError("le texte contient des caractères de contrôle")
    return value.strip() or None


class BBox(BaseModel):
    """Bounding box: top-left corner and size, normalised to the frame (Camtrap DP bboxX…)."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0, le=1, allow_inf_nan=False)
    y: float = Field(ge=0, le=1, allow_inf_nan=False)
    w: float = Field(gt=0, le=1, allow_inf_nan=False)
    h: float = Field(gt=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _inside(self) -> BBox:
        if self.x + self.w > _EDGE or self.y + self.h > _EDGE:
            raise ValueError("le cadre sort de l'image : x + w et y + h doivent rester ≤ 1")
        return self


class ObservationIn(BaseModel):
    """An observation on an event: what was seen, how many, and where in the clip."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scientific_name": "Capreolus capreolus",
                    "count": 2,
                    "life_stage": "adult",
                    "sex": "female",
                    "behavior": "broute",
                    "bbox": {"x": 0.4, "y": 0.5, "w": 0.1, "h": 0.2},
                    "event_start_s": 3.5,
                    "event_end_s": 12.0,
                }
            ]
        },
    )

    observation_type: ObservationType = "animal"
    scientific_name: str | None = Field(default=None, min_length=1, max_length=200)
    vernacular_name: str | None = Field(default=None, max_length=200)
    count: int | None = Field(default=None, ge=1, le=10000)
    life_stage: LifeStage | None = None
    sex: Sex | None = None
    behavior: str | None = Field(default=None, max_length=500)
    individual_id: str | None = Field(default=None, max_length=100)
    comments: str | None = Field(default=None, max_length=5000)
    bbox: BBox | None = None
    event_start_s: float | None = Field(default=None, ge=0, le=86400, allow_inf_nan=False)
    event_end_s: float | None = Field(default=None, ge=0, le=86400, allow_inf_nan=False)

    _clean = field_validator("scientific_name", "vernacular_name", "behavior", "individual_id", "comments")(
        _text
    )

    @model_validator(mode="after")
    def _coherent(self) -> ObservationIn:
        if self.observation_type == "animal" and not self.scientific_name:
            raise ValueError("scientific_name : obligatoire pour une observation d'animal")
        if (
            self.event_start_s is not None
            and self.event_end_s is not None
            and self.event_end_s < self.event_start_s
        ):
            raise ValueError("event_end_s doit suivre event_start_s")
        return self

    def columns(self) -> dict[str, Any]:
        """The table's columns for this observation (in_species_list is the caller's)."""
        data = self.model_dump(exclude={"bbox"})
        box = self.bbox
        data |= {
            "bbox_x": box.x if box else None,
            "bbox_y": box.y if box else None,
            "bbox_w": box.w if box else None,
            "bbox_h": box.h if box else None,
        }
        return data

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> dict[str, Any]:
        """A stored observation as this model's input (for a merge patch)."""
        data = {k: row[k] for k in cls.model_fields if k != "bbox" and row.get(k) is not None}
        if row.get("bbox_x") is not None:
            data["bbox"] = {"x": row["bbox_x"], "y": row["bbox_y"], "w": row["bbox_w"], "h": row["bbox_h"]}
        return data


class ObservationOut(BaseModel):
    """An observation as stored, with who classified and who validated it."""

    id: int
    event_id: int
    observation_type: ObservationType
    scientific_name: str | None
    in_species_list: bool = Field(description="false : nom libre, hors de la liste des espèces")
    vernacular_name: str | None
    count: int | None
    life_stage: LifeStage | None
    sex: Sex | None
    behavior: str | None
    individual_id: str | None
    comments: str | None
    bbox: BBox | None
    event_start_s: float | None = Field(description="secondes depuis la première image du clip")
    event_end_s: float | None
    event_start: datetime | None = Field(description="eventStart (Camtrap DP)")
    event_end: datetime | None = Field(description="eventEnd (Camtrap DP)")
    classified_by: str = Field(description="classifiedBy : l'identifiant de la personne")
    classification_timestamp: datetime
    classification_method: Literal["human"] = "human"
    status: ObservationStatus
    validated_by: str | None
    validated_at: datetime | None
    validation_comment: str | None
    corrects_id: int | None = Field(description="l'observation que celle-ci corrige")
    version: int
    warnings: list[str]

    @classmethod
    def of(cls, row: dict[str, Any]) -> ObservationOut:
        bbox = (
            BBox.model_construct(x=row["bbox_x"], y=row["bbox_y"], w=row["bbox_w"], h=row["bbox_h"])
            if row["bbox_x"] is not None
            else None
        )
        warnings = []
        if row["scientific_name"] and not row["in_species_list"]:
            warnings.append("nom libre : ce nom n'est pas dans la liste des espèces")
        return cls.model_validate(
            {**row, "bbox": bbox, "classification_timestamp": row["classification_ts"], "warnings": warnings}
        )


class ValidationIn(BaseModel):
    """A second naturalist's verdict on an observation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "confirm"},
                {
                    "decision": "correct",
                    "comment": "c'est une chevrette",
                    "correction": {"scientific_name": "Capreolus capreolus", "sex": "female"},
                },
            ]
        },
    )

    decision: Literal["confirm", "reject", "correct"]
    comment: str | None = Field(default=None, max_length=2000)
    correction: ObservationIn | None = None

    _clean = field_validator("comment")(_text)

    @model_validator(mode="after")
    def _correction(self) -> ValidationIn:
        if (self.decision == "correct") != (self.correction is not None):
            raise ValueError("correction : à donner avec decision « correct », et seulement alors")
        return self


class ValidationOut(BaseModel):
    """The judged observation, and the correction when there is one."""

    observation: ObservationOut
    correction: ObservationOut | None


class HistoryEntry(BaseModel):
    """One change of an observation, with the observation as it stood after it."""

    id: int
    observation_id: int
    event_id: int
    version: int
    action: Literal["created", "updated", "validated", "rejected", "corrected", "deleted"]
    actor: str
    at: datetime
    snapshot: dict[str, Any]
