"""OpenCV's MOG2 Gaussian-mixture background model behind the shared pipeline."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from camera.config import Mask, MotionConfig
from camera.detect.base import MotionResult
from camera.detect.common import Pipeline, light_gain, sway_tolerant_diff

# About 40 s of history at 5 fps: long enough to learn swaying leaves as background modes.
HISTORY = 200
# MOG2 thresholds a squared distance in variances; this maps the profile's grey-level threshold
# onto it so one profile serves both detectors. Tuned on the 30-min bench footage at 360 px
# detection height: 2.2 caught 26 of 30 animals, 1.8 caught 28 with no false event, 1.65 and
# 1.5 caught 28-29 but fired 4-6 times on empty rain and wind (8-12 false events/h).
VAR_PER_THRESHOLD = 1.8
# Ceiling of a pixel's learnt variance (OpenCV's default is 75, a standard deviation of 8.7
# grey levels). In swaying grass the variance climbs to the ceiling, and the threshold with it
# (46 grey levels at 75, 36 at 45): a hare behind the blades, a few levels off the soil,
# never crossed it. 45 keeps those pixels sensitive (bench-motion: hare #17 caught); the sway
# veto below takes over the job of ignoring the blades.
VAR_MAX = 45.0
# Sway veto: a pixel MOG2 calls foreground must also differ from the running mean by this share
# of the profile's threshold, sway tolerant as in frigate_like. A blade pushed a pixel or two
# further than MOG2 has learnt still matches the mean within the sway tolerance; an animal's
# fur does not. Without the veto the lower variance ceiling fired 5 times on the bench's gusts
# and rain (10 false events/h); with it, none. It also cleans MOG2's mask enough for the
# flicker halo, which used to split mog2's events into pieces (docs/benchmarks.md).
VETO_SHARE = 0.5


class Mog2Detector:
    """Per-pixel mixture of Gaussians (cv2.createBackgroundSubtractorMOG2), shadows off.

    Its foreground is confirmed by a sway-tolerant difference from a running mean (VETO_SHARE).
    """

    name = "mog2"

    def __init__(self, config: MotionConfig) -> None:
        self._pipe = Pipeline(config)
        self._model: Any = None
        self._avg: np.ndarray | None = None  # running mean: follows the light, confirms motion

    def _new_model(self) -> Any:
        var_threshold = float(self._pipe.profile.threshold) * VAR_PER_THRESHOLD
        model = cv2.createBackgroundSubtractorMOG2(
            history=HISTORY, varThreshold=var_threshold, detectShadows=False
        )
        model.setVarMax(VAR_MAX)
        return model

    def set_masks(self, masks: tuple[Mask, ...]) -> None:
        """Apply new masks without losing what the model learnt."""
        self._pipe.set_masks(masks)

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
        # The veto compares the same light-corrected picture with the running mean.
        near = sway_tolerant_diff(seen, cv2.convertScaleAbs(self._avg), self._pipe.config.sway_px)
        _, veto = cv2.threshold(near, self._pipe.threshold * VETO_SHARE, 255, cv2.THRESH_BINARY)
        # Just after a change of conditions (weather, light) both models learn fast, so the
        # new look of the scene is background within about a second.
        rate = self._pipe.learning_rate()
        fast = rate > self._pipe.config.alpha
        changed = cv2.bitwise_and(self._model.apply(seen, learningRate=rate if fast else -1), veto)
        result = self._pipe.finish(changed, recalibrate=jump)
        if result.recalibrating and self._pipe.guard_fired:
            # Light changed everywhere at once: relearn from this frame.
            self._model.apply(grey, learningRate=1.0)
            self._avg = grey.astype(np.float32)
        else:
            cv2.accumulateWeighted(grey, self._avg, rate)
        return result
