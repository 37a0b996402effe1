"""The detector interface the camera worker codes against: boxes, results and the protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vigie.masks import Mask


@dataclass(frozen=True, slots=True)
class Box:
    """A motion box in normalised coordinates (0..1, top-left origin)."""

    x: float
    y: float
    w: float
    h: float

    def as_list(self) -> list[float]:
        """The box as [x, y, w, h] rounded for JSON."""
        return [round(self.x, 4), round(self.y, 4), round(self.w, 4), round(self.h, 4)]


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What a detector says about one frame."""

    score: float  # 0..1: fraction of the unmasked frame in real motion after filtering
    boxes: tuple[Box, ...]  # motion boxes this frame
    motion: bool  # True when the persistence rule says "real motion now"
    recalibrating: bool  # light switch / IR switch / lightning guard fired this frame
    night: bool  # IR night profile active
    # How sure the detector is that the motion is an animal: 1 when no guard doubted it, lower
    # when only motion a weather or light guard doubted made the persistence rule fire.
    confidence: float = 1.0
    guard: str | None = None  # the guard that doubted it (see camera.detect.common.GUARDS)


NO_MOTION = MotionResult(score=0.0, boxes=(), motion=False, recalibrating=False, night=False)


class Detector(Protocol):
    """Turns BGR frames (any size, uint8 HxWx3) into MotionResults; one instance per camera."""

    name: str

    def process(self, frame_bgr: np.ndarray, ts: float) -> MotionResult:
        """Analyse one frame taken at ts (seconds, monotonic per stream)."""
        ...

    def set_masks(self, masks: tuple[Mask, ...]) -> None:
        """Ignore these areas from the next frame on (an admin drew new masks)."""
        ...
