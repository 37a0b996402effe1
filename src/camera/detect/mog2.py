"""OpenCV's MOG2 Gaussian-mixture background model behind the shared pipeline."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from camera.config import MotionConfig
from camera.detect.base import MotionResult
from camera.detect.common import Pipeline, light_gain

# About 40 s of history at 5 fps: long enough to learn swaying leaves as background modes.
HISTORY = 200
# MOG2 thresholds a squared distance in variances; this maps the profile's grey-level threshold
# onto it so one profile serves both detectors. Tuned on the 30-min bench footage at 360 px
# detection height: 2.2 caught 26 of 30 animals, 1.8 caught 28 with no false event, 1.65 and
# 1.5 caught 28-29 but fired 4-6 times on empty rain and wind (8-12 false events/h).
VAR_PER_THRESHOLD = 1.8


class Mog2Detector:
    """Per-pixel mixture of Gaussians (cv2.createBackgroundSubtractorMOG2), shadows off."""

    name = "mog2"

    def __init__(self, config: MotionConfig) -> None:
        # No flicker halo for MOG2: its masks are noisier, and dropping the blobs that hug the
        # leaves split its events into pieces that matched no animal (bench-motion: 0 -> 4
        # false events/h, and one animal lost on another seed).
        self._pipe = Pipeline(config.model_copy(update={"flicker_halo": 0}))
        self._model: Any = None
        self._avg: np.ndarray | None = None  # slow mean picture, only to follow the light

    def _new_model(self) -> Any:
        var_threshold = float(self._pipe.profile.threshold) * VAR_PER_THRESHOLD
        model = cv2.createBackgroundSubtractorMOG2(
            history=HISTORY, varThreshold=var_threshold, detectShadows=False
        )
        return model

    def process(self, frame_bgr: np.ndarray, ts: float) -> MotionResult:
        """Analyse one frame."""
        grey, regime_changed = self._pipe.prepare(frame_bgr)
        jump = self._pipe.light_jump(grey)
        cell = self._pipe.config.relight_cell
        if self._model is None or self._avg is None or self._avg.shape != grey.shape or regime_changed:
            self._model = self._new_model()
            self._model.apply(grey, learningRate=1.0)
            self._avg = grey.astype(np.float32)
            return self._pipe.finish(np.zeros(grey.shape[:2], np.uint8), recalibrate=True)
        seen = grey
        if cell > 0:
            # MOG2 learns slowly (HISTORY frames): show it the frame with the cloud shadows
            # divided out, measured against a faster running mean of the scene.
            gain = light_gain(self._avg, grey, cell)
            seen = cv2.convertScaleAbs(cv2.divide(grey.astype(np.float32), gain))
        changed = self._model.apply(seen, learningRate=-1)
        result = self._pipe.finish(changed, recalibrate=jump)
        if result.recalibrating and self._pipe.guard_fired:
            # Light changed everywhere at once: relearn from this frame.
            self._model.apply(grey, learningRate=1.0)
            self._avg = grey.astype(np.float32)
        else:
            cv2.accumulateWeighted(grey, self._avg, self._pipe.config.alpha)
        return result
