"""Running-average background differencing, in the manner of Frigate's motion detector."""

from __future__ import annotations

import cv2
import numpy as np

from camera.config import Mask, MotionConfig
from camera.detect.base import MotionResult
from camera.detect.common import Pipeline, relight, sway_tolerant_diff


class FrigateLikeDetector:
    """Grey frame against a running average of past frames, thresholded per light regime."""

    name = "frigate_like"

    def __init__(self, config: MotionConfig) -> None:
        self._pipe = Pipeline(config)
        self._avg: np.ndarray | None = None

    def set_masks(self, masks: tuple[Mask, ...]) -> None:
        """Apply new masks without losing what the model learnt."""
        self._pipe.set_masks(masks)

    def process(self, frame_bgr: np.ndarray, ts: float) -> MotionResult:
        """Analyse one frame."""
        grey, regime_changed = self._pipe.prepare(frame_bgr)
        jump = self._pipe.light_jump(grey)
        if self._avg is None or self._avg.shape != grey.shape or regime_changed:
            self._avg = grey.astype(np.float32)
            return self._pipe.finish(np.zeros(grey.shape[:2], np.uint8), recalibrate=True)
        cfg = self._pipe.config
        self._pipe.adapt_threshold(self._avg)
        background = relight(self._avg, grey, cfg.relight_cell)
        diff = sway_tolerant_diff(grey, background, cfg.sway_px)
        changed = self._pipe.over_threshold(diff)
        result = self._pipe.finish(changed, recalibrate=jump)
        if result.recalibrating and self._pipe.guard_fired:
            # The guard just fired: the new light is the new background.
            self._avg = grey.astype(np.float32)
        else:
            # Fast for a moment after a change of conditions (weather, light), else `alpha`.
            cv2.accumulateWeighted(grey, self._avg, self._pipe.learning_rate())
            if self._pipe.light_step is not None:
                # A light step over part of the frame: learnt at once where it showed.
                cv2.accumulateWeighted(grey, self._avg, 1.0, mask=self._pipe.light_step)
        return result
