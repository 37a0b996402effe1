"""Request and response models of /api/v1/cameras: the cameras an admin manages, their health,
and the detection masks drawn on their current view.

The stream URL is checked by vigie.camera_urls, the check the camera worker applies at each
connection. The site's outbound settings come through the validation context
({"allow_private": bool, "allowed_networks": [...]}); without one the strictest apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from api.schemas.deployments import CAMERA_ID
from vigie.camera_urls import MAX_URL_LENGTH, REMOTE_KINDS, StreamUrlRefused, check_stream_url, guess_kind
from vigie.masks import MAX_MASKS, Mask

SourceKind = Literal["rtsp", "mjpeg", "snapshot"]
# What redact() leaves of a password: sending it back would store '***' as the password.
_MASKED_PASSWORD = ":***@"  # noqa: S105  # the mask, not a password


def _clean_name(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if not v or any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in v):
        raise ValueError("nom vide ou avec des caractères de contrôle")
    return v


def _check_url(kind: str | None, url: str, info: ValidationInfo) -> str:
    if _MASKED_PASSWORD in url or url.split("://", 1)[-1].startswith("***@"):
        raise ValueError(
            "le mot de passe masqué (***) ne peut pas être renvoyé : retapez le mot de passe,"
            " ou n'envoyez pas d'URL pour garder l'actuelle"
        )
    kind = kind or guess_kind(url)
    if kind not in REMOTE_KINDS:
        raise ValueError("URL rtsp://, rtsps://, http:// ou https:// attendue")
    ctx: dict[str, Any] = info.context or {}
    try:
        check_stream_url(
            kind,
            url,
            allow_private=bool(ctx.get("allow_private", False)),
            allowed=tuple(ctx.get("allowed_networks", ())),
        )
    except StreamUrlRefused as exc:
        raise ValueError(str(exc)) from None
    return url


class CameraIn(BaseModel):
    """A camera to create: its id, its name and its stream."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "etang-nord",
                    "name": "Étang du Plessis, rive nord",
                    "source_kind": "rtsp",
                    "source_url": "rtsp://vigie:motdepasse@10.0.20.11:554/stream1",
                }
            ]
        },
    )

    id: str = Field(pattern=CAMERA_ID, description="minuscules, chiffres et '-', 2 à 63")
    name: str = Field(min_length=1, max_length=200)
    source_kind: SourceKind | None = Field(default=None, description="déduit de l'URL s'il manque")
    # Longer than the check's limit so that the check, not the length, says why in French.
    source_url: str = Field(min_length=1, max_length=MAX_URL_LENGTH * 4)
    snapshot_interval_s: float = Field(default=2.0, gt=0, le=3600, allow_inf_nan=False)
    retention_days: int = Field(default=30, ge=1, le=36500)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v.startswith("vigie-"):
            raise ValueError("les identifiants 'vigie-…' sont réservés aux services")
        return v

    _name = field_validator("name")(_clean_name)

    @field_validator("source_url")
    @classmethod
    def _url(cls, v: str, info: ValidationInfo) -> str:
        return _check_url(info.data.get("source_kind"), v, info)

    @model_validator(mode="after")
    def _kind(self) -> CameraIn:
        if self.source_kind is None:
            kind = guess_kind(self.source_url)
            self.source_kind = kind if kind in REMOTE_KINDS else None  # type: ignore[assignment]
        return self


class CameraPatch(BaseModel):
    """A change to a camera: the fields given change, the others stay (source_url too)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    source_kind: SourceKind | None = None
    source_url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH * 4)
    snapshot_interval_s: float | None = Field(default=None, gt=0, le=3600, allow_inf_nan=False)
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    enabled: bool | None = None

    _name = field_validator("name")(_clean_name)

    @field_validator("source_url")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        if info.data.get("source_kind") is None:
            raise ValueError("donnez aussi source_kind avec une nouvelle URL")
        return _check_url(info.data.get("source_kind"), v, info)

    @model_validator(mode="after")
    def _kind_needs_url(self) -> CameraPatch:
        if self.source_kind is not None and self.source_url is None:
            raise ValueError("changer source_kind demande de redonner source_url")
        return self


class MasksIn(BaseModel):
    """The detection masks of a camera, replacing the ones it had ([] removes them all)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"masks": [{"points": [[0.0, 0.0], [0.4, 0.0], [0.4, 0.25], [0.0, 0.25]]}]}]
        },
    )

    masks: list[Mask] = Field(max_length=MAX_MASKS)


class MasksOut(BaseModel):
    """A camera's masks: polygons normalised 0..1, top-left origin, on its current view."""

    camera_id: str
    masks: list[Mask]
    updated_at: datetime


class CameraLinks(BaseModel):
    """Where a camera's health and current view are."""

    health: str
    snapshot: str
    masks: str


class CameraOut(BaseModel):
    """A camera as the API shows it: its URL with the password masked."""

    id: str
    name: str
    source_kind: str
    source_url: str = Field(description="l'URL, mot de passe masqué (***)")
    snapshot_interval_s: float
    retention_days: int
    enabled: bool
    masks: list[Mask]
    created_at: datetime
    updated_at: datetime
    links: CameraLinks


class CameraList(BaseModel):
    """Every camera, by id."""

    items: list[CameraOut]


class CameraHealth(BaseModel):
    """What the camera worker last reported, and the disk its clips use."""

    camera_id: str
    state: Literal["starting", "online", "lost", "error", "stopped"] | None = Field(
        description="null : le service caméra n'a encore rien signalé"
    )
    last_frame_at: datetime | None
    fps_in: float = Field(description="images reçues par seconde")
    fps_processed: float = Field(description="images analysées par seconde")
    frames_in: int
    frames_dropped: int = Field(description="images perdues faute de temps d'analyse")
    reconnects: int
    width: int | None
    height: int | None
    disk_state: Literal["ok", "full"]
    disk_used_bytes: int = Field(description="clips, images et vignettes de ses événements")
    clips: int = Field(description="événements dont des fichiers sont gardés")
    last_error: str | None
    reported_at: datetime | None
    report_age_s: float | None
    view_at: datetime | None = Field(description="heure de la vue actuelle (snapshot.jpg)")
