"""The table of detectors a camera can choose by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from camera.config import MotionConfig
    from camera.detect.base import Detector


@dataclass(frozen=True)
class DetectorSpec:
    """One row of the table: a name, what it does, and how to build it."""

    name: str
    summary: str
    factory: Callable[[MotionConfig], Detector]


def _frigate_like(config: MotionConfig) -> Detector:
    from camera.detect.frigate_like import FrigateLikeDetector

    return FrigateLikeDetector(config)


def _mog2(config: MotionConfig) -> Detector:
    from camera.detect.mog2 import Mog2Detector

    return Mog2Detector(config)


DETECTORS: dict[str, DetectorSpec] = {
    spec.name: spec
    for spec in (
        DetectorSpec("frigate_like", "moyenne glissante et différence (type Frigate)", _frigate_like),
        DetectorSpec("mog2", "mélange de gaussiennes OpenCV MOG2", _mog2),
    )
}


def make_detector(config: MotionConfig) -> Detector:
    """Build the detector the camera's config names."""
    return DETECTORS[config.detector].factory(config)
