"""Response and request models of the review's events (/api/v1/events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.schemas.observations import ObservationOut
from vigie.ids import BIGINT_MAX

EventStatus = Literal["new", "reviewed", "false_positive"]


class MediaLinks(BaseModel):
    """Where to fetch an event's files; null when the event has none."""

    clip: str | None = Field(description="MP4 (H.264), servi avec HTTP Range")
    snapshot: str | None = Field(description="JPEG de l'image au pic du mouvement")
    thumbnail: str | None = Field(description="JPEG réduit, pour la galerie")
    poster: str | None = Field(description="JPEG pleine taille pour <video poster>")


class PersonState(BaseModel):
    """People in the frame: the naturalist's word, the detector's proposal, and the outcome."""

    flag: bool | None = Field(
        description="true : une personne (signalée) ; false : écartée par un naturaliste ; null : pas d'avis"
    )
    flagged_by: str | None
    flagged_at: datetime | None
    proposed: bool | None = Field(description="proposition du détecteur HOG ; null : pas analysé")
    score: float | None = Field(description="meilleur score du détecteur")
    hidden: bool = Field(description="caché aux lecteurs et hors des exports (sauf admin)")


class EventItem(BaseModel):
    """One event as the gallery lists it."""

    id: int
    camera_id: str
    deployment_id: int | None = Field(description="le déploiement actif au début de l'événement")
    event_key: str
    start_ts: datetime
    end_ts: datetime | None = Field(description="null tant que l'événement dure")
    clip_start_ts: datetime | None
    duration_s: float
    peak_score: float | None
    peak_ts: datetime | None
    confidence: float = Field(description="1 : mouvement sûr ; moins : un garde-fou a douté")
    doubt_guard: str | None
    status: EventStatus
    favourite: bool
    has_observations: bool
    reviewed_by_me: bool
    period: Literal["day", "night"] = Field(description="soleil au-dessus ou sous l'horizon au déploiement")
    species: list[str] = Field(description="noms scientifiques des observations non rejetées")
    part: int
    previous_event_id: int | None
    media_error: str | None
    media: MediaLinks
    person: PersonState

    @classmethod
    def of(cls, row: dict[str, Any]) -> EventItem:
        base = f"/api/v1/events/{row['id']}"
        media = MediaLinks(
            clip=f"{base}/clip" if row["has_clip"] else None,
            snapshot=f"{base}/snapshot" if row["has_snapshot"] else None,
            thumbnail=f"{base}/thumbnail" if row["has_snapshot"] else None,
            poster=f"{base}/poster" if row["has_clip"] else None,
        )
        person = PersonState(
            flag=row["person_flag"],
            flagged_by=row["person_flagged_by"],
            flagged_at=row["person_flagged_at"],
            proposed=row["person_proposed"],
            # A real in the table: rounded so that 1.2 reads 1.2, not 1.2000000476837158.
            score=round(row["person_score"], 4) if row["person_score"] is not None else None,
            hidden=bool(row["person_hidden"]),
        )
        return cls.model_validate({**row, "media": media, "person": person})


class EventPage(BaseModel):
    """One page of events; pass next_cursor back as `cursor` for the next (null: last page)."""

    items: list[EventItem]
    next_cursor: str | None
    limit: int
    sort: str
    order: Literal["asc", "desc"]
    total: int | None = Field(description="nombre d'événements filtrés, si with_total=true")


class Box(BaseModel):
    """A motion box, normalised 0..1, at t seconds from the clip's first frame."""

    model_config = ConfigDict(extra="allow")

    t: float
    x: float
    y: float
    w: float
    h: float


class Review(BaseModel):
    """Who marked the event reviewed, and when."""

    login: str
    reviewed_at: datetime


class EventDetail(EventItem):
    """One event with its motion boxes, its observations and who reviewed it."""

    boxes: list[Box]
    person_boxes: list[Box] = Field(description="personnes vues par le détecteur (t, x, y, w, h, score)")
    observations: list[ObservationOut]
    reviews: list[Review]


class EventPatch(BaseModel):
    """The review state of one event, for the caller: any of the three."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reviewed": True}, {"false_positive": True}]}
    )

    reviewed: bool | None = Field(default=None, description="false : « marquer comme non vu »")
    false_positive: bool | None = None
    favourite: bool | None = None
    # Strict: 1 or "yes" for a person is refused, not guessed.
    person: StrictBool | None = Field(
        default=None,
        description="true : une personne est dans l'image (cachée aux lecteurs) ; false : aucune"
        " (écarte la proposition du détecteur) ; null : retire l'avis, la proposition s'applique",
    )


BULK_MAX = 500


class BulkIn(BaseModel):
    """An action over a selection of events."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ids": [12, 13], "action": "false_positive"},
                {"ids": [12, 13, 14], "action": "tag", "scientific_name": "Capreolus capreolus", "count": 1},
            ]
        },
    )

    ids: list[int] = Field(min_length=1, max_length=BULK_MAX)
    action: Literal[
        "false_positive",
        "not_false_positive",
        "reviewed",
        "not_reviewed",
        "favourite",
        "unfavourite",
        "tag",
        "delete",
        "person",
        "no_person",
    ]
    scientific_name: str | None = Field(default=None, min_length=1, max_length=200)
    count: int | None = Field(default=None, ge=1, le=10000)

    def checked_ids(self) -> list[int]:
        """The ids, each a valid bigint, without repeats (order kept)."""
        for i in self.ids:
            if not 1 <= i <= BIGINT_MAX:
                raise ValueError(f"identifiant d'événement hors limites : {i}")
        return list(dict.fromkeys(self.ids))


class Kept(BaseModel):
    """An event the action left alone, and why."""

    id: int
    reason: str


class BulkOut(BaseModel):
    """What a bulk action did."""

    action: str
    done: list[int]
    kept: list[Kept]
    unknown: list[int]
    warnings: list[str]
