"""Per-camera motion and event settings, validated by pydantic with readable messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vigie.errors import VigieError
from vigie.masks import MAX_MASKS, Mask, Point


class CameraConfigError(VigieError):
    """A camera's motion or event configuration is invalid; the message says which field and why."""


class Profile(BaseModel):
    """Thresholds for one light regime (day colour or IR night)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Grey-level difference (0..255) a pixel must exceed to count as changed.
    threshold: int = Field(default=16, ge=1, le=254)
    # Smallest contour kept, as a fraction of the detection frame's area.
    # Counted in pixels that really changed, not in the dilated blob around them.
    min_area: float = Field(default=0.0002, gt=0.0, lt=0.5)
    # Frames of consecutive motion before the detector says "real motion now".
    persistence_frames: int = Field(default=3, ge=1, le=100)
    # Contrast gain around the mean grey level before differencing (1 = none).
    stretch: float = Field(default=1.0, ge=1.0, le=4.0)
    # Gaussian blur kernel (odd, pixels in the detection frame).
    blur: int = Field(default=3, ge=1, le=31)

    @field_validator("blur")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("le flou (blur) doit être un nombre impair de pixels")
        return v


def _night_default() -> Profile:
    # IR frames are noisier and flatter: more blur, a larger least blob, more persistence, and
    # a contrast stretch so that a grey animal on grey ground still stands out.
    return Profile(threshold=16, min_area=0.0003, persistence_frames=4, blur=5, stretch=2.0)


class MotionConfig(BaseModel):
    """Motion detection settings for one camera."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detector: str = "frigate_like"
    # 360 rather than Frigate's ~180: at 180 px a camouflaged hare in the grass (a light ear
    # tip above the blades) blurs into the ground; at 360 px it is caught, with no false event
    # more (docs/benchmarks.md). Still 20 cameras per core at 720p/5 fps.
    detection_height: int = Field(default=360, ge=60, le=1080)
    day: Profile = Field(default_factory=Profile)
    night: Profile = Field(default_factory=_night_default)
    masks: tuple[Mask, ...] = Field(default=(), max_length=MAX_MASKS)
    # Fraction of the frame changing at once that means light switch, IR switch or lightning.
    recalibrate_fraction: float = Field(default=0.5, gt=0.05, le=1.0)
    # Frames ignored after a recalibration while the background settles.
    recalibrate_frames: int = Field(default=4, ge=0, le=100)
    # Frames at start-up (or after a resolution change) spent learning, without motion.
    warmup_frames: int = Field(default=15, ge=0, le=1000)
    # Blobs from this fraction of min_area up to min_area are kept as doubted motion (guard
    # "small_blob", low confidence) instead of dropped; 1 = drop them. 0.4 was chosen on the
    # tuning families (bench/motion.py --quick): a far hare there showed 68 px at most and
    # stayed boxed 2 frames in a row, too few for the persistence rule; at 0.4 every animal
    # of the tuning clips was caught, for no more false events and 0.47 of the time in events
    # against 0.41 (ideal 0.35).
    small_blob_fraction: float = Field(default=0.4, gt=0.0, le=1.0)
    # Motion only doubted blobs make persist must persist this many frames more than sure
    # motion before it counts (an event): leaves, rain and sparkle that only a guard doubts
    # persist a few frames and stop. Off by default: 2 looked free on the four tuning families
    # (seed 3: false events 5 -> 4 in 40 min, recall 1.0 kept), but on the held-out ones
    # (seeds 5 and 6, 64 animals) it lost 3 animals (2 far hares only doubted motion caught), for 3
    # false events fewer (recall 0.984 -> 0.938, 10 -> 7 false events/h; docs/benchmarks.md).
    doubt_extra_frames: int = Field(default=0, ge=0, le=100)
    # Running-average learning rate of the background (frigate_like).
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    # Pixels a background may sway by (detection scale) and still count as unchanged.
    sway_px: int = Field(default=1, ge=0, le=8)
    # Flicker map: learning rate and the flicker rate above which a pixel is discounted.
    flicker_alpha: float = Field(default=0.02, gt=0.0, lt=1.0)
    flicker_level: float = Field(default=0.08, gt=0.0, le=1.0)
    # Pixels by which discounted (flickering) areas are widened.
    flicker_spread: int = Field(default=0, ge=0, le=8)
    # Pixels around discounted (flickering) areas where a blob lying almost wholly is dropped.
    flicker_halo: int = Field(default=3, ge=0, le=16)
    # Forgetting rate of the flicker map relative to its learning rate.
    flicker_release: float = Field(default=0.1, gt=0.0, le=1.0)
    # Contrast-adaptive threshold (by day): where the scene's fine texture has faded below what
    # it was in clear weather (fog, haze), the threshold falls with it, down to this fraction of
    # the profile's threshold; 1 = a fixed threshold. Fog halves an animal's contrast as it
    # halves the leaves' and the ground's, while the sensor's noise stays what it was.
    contrast_floor: float = Field(default=1.0, gt=0.0, le=1.0)
    # A light step over part of the frame: when blobs appear at once, where nothing moved the
    # frame before, in at least this many parts of a 16x9 grid, the background takes the new
    # picture under them at once (0 = off). See camera.detect.common.Pipeline._light_step.
    # 5 on the four tuning families (seed 3, bench/motion.py --quick): false events 7.5 -> 4.5
    # an hour, recall 1.0 kept, 0.458 of the time in events against 0.474 (ideal 0.379).
    light_step_parts: int = Field(default=5, ge=0, le=144)
    # Block size (detection pixels) of the light correction that follows cloud shadows; 0 = off.
    relight_cell: int = Field(default=8, ge=0, le=64)
    # Difference colour pictures per channel by day (night IR pictures are grey anyway).
    colour: bool = True
    # Mean HSV saturation (0..255) below which the image is taken as IR night.
    night_saturation: float = Field(default=12.0, ge=0.0, le=255.0)

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, v: str) -> str:
        # Imported late: the registry imports this module.
        from camera.detect.registry import DETECTORS

        if v not in DETECTORS:
            raise ValueError(f"détecteur inconnu {v!r} ; choix possibles : {', '.join(DETECTORS)}")
        return v


class EventConfig(BaseModel):
    """How motion becomes events and clips."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pre_roll_s: float = Field(default=5.0, ge=0.0, le=60.0)
    post_roll_s: float = Field(default=5.0, ge=0.0, le=120.0)
    gap_s: float = Field(default=10.0, ge=0.0, le=600.0)
    max_clip_s: float = Field(default=120.0, ge=10.0, le=3600.0)

    @model_validator(mode="after")
    def _consistent(self) -> EventConfig:
        if self.max_clip_s <= self.pre_roll_s + self.post_roll_s:
            raise ValueError("max_clip_s doit dépasser pre_roll_s + post_roll_s")
        return self


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(racine)"
        parts.append(f"{where} : {err['msg']}")
    return "; ".join(parts)


def load_motion_config(data: dict[str, Any], camera: str = "?") -> MotionConfig:
    """Validate a motion config mapping or raise CameraConfigError naming the camera and field."""
    try:
        return MotionConfig.model_validate(data)
    except ValidationError as exc:
        raise CameraConfigError(
            f"caméra {camera} : configuration de détection invalide : {_describe(exc)}"
        ) from exc


def load_event_config(data: dict[str, Any], camera: str = "?") -> EventConfig:
    """Validate an event config mapping or raise CameraConfigError naming the camera and field."""
    try:
        return EventConfig.model_validate(data)
    except ValidationError as exc:
        raise CameraConfigError(
            f"caméra {camera} : configuration des événements invalide : {_describe(exc)}"
        ) from exc


__all__ = [
    "CameraConfigError",
    "EventConfig",
    "Mask",
    "MotionConfig",
    "Point",
    "Profile",
    "load_event_config",
    "load_motion_config",
]
