"""OpenCV's MOG2 Gaussian-mixture background model behind the shared pipeline."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from camera.config import MotionConfig
from camera.detect.base import MotionResult
from camera.detect.common import Pipeline

# About 40 s of history at 5 fps: long enough to learn swaying leaves as background modes.
HISTORY = 200
# MOG2 thresholds a squared distance in variances; this maps the profile's grey-level threshold
# onto it so one profile serves both detectors (tuned on simulator footage).
VAR_PER_THRESHOLD = 2.2


class Mog2Detector:
    """Per-pixel mixture of Gaussians (cv2.createBackgroundSubtractorMOG2), shadows off."""

    name = "mog2"

    def __init__(self, config: MotionConfig) -> None:
        self._pipe = Pipeline(config)
        self._model: Any = None
        self._night = False

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
        if self._model is None or regime_changed:
            self._model = self._new_model()
            self._model.apply(grey, learningRate=1.0)
            return self._pipe.finish(np.zeros_like(grey), recalibrate=True)
        changed = self._model.apply(grey, learningRate=-1)
        result = self._pipe.finish(changed, recalibrate=jump)
        if result.recalibrating and self._pipe.guard_fired:
            # Light changed everywhere at once: relearn from this frame.
            self._model.apply(grey, learningRate=1.0)
        return result
