"""People on the forest path: a person-shaped figure walking across the scene, with its ground
truth, so that the people detector (camera.people) is measured on scenes with walkers in them.

The figure is drawn upright (head, shoulders, arms and legs swinging in step) in the clothes'
colours; like the animals it is at the reference 1280x720 scale and scaled to the frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Walker:
    """One person walking on a straight path between two times (reference pixels)."""

    start_s: float
    duration_s: float
    x0: float  # feet's centre at the start and at the end
    x1: float
    ground_y: float = 640.0  # where the feet touch the ground
    height: float = 300.0  # head to feet, reference pixels (about 1.75 m at mid-depth)
    shirt: Colour = (150, 70, 40)  # BGR: a blue jacket
    trousers: Colour = (40, 40, 45)
    skin: Colour = (140, 165, 205)
    behind: bool = False  # passes behind the foreground vegetation (partly hidden)
    stride_hz: float = 0.9  # full gait cycles per second

    def position(self, t: float) -> float | None:
        """The feet's x at scene time t, or None outside the walk."""
        local = t - self.start_s
        if local < 0 or local > self.duration_s:
            return None
        return self.x0 + (self.x1 - self.x0) * local / self.duration_s

    def box(self, t: float) -> tuple[float, float, float, float] | None:
        """(x, y, w, h) around the figure at t, reference pixels, or None outside the walk."""
        x = self.position(t)
        if x is None:
            return None
        w = 0.42 * self.height
        return x - w / 2, self.ground_y - self.height, w, self.height


def draw(frame: np.ndarray, wk: Walker, t: float, sx: float, sy: float) -> None:
    """Draw the walker at time t onto frame (scaled by sx, sy from 1280x720)."""
    x = wk.position(t)
    if x is None:
        return
    H = wk.height
    phase = 2 * math.pi * wk.stride_hz * (t - wk.start_s)
    bob = 0.01 * H * abs(math.sin(phase))

    def p(px: float, py: float) -> tuple[int, int]:
        # Body coordinates: px sideways from the body's axis, py up from the ground.
        return int((x + px) * sx), int((wk.ground_y - py - bob) * sy)

    def thick(v: float) -> int:
        return max(1, int(v * H * sx))

    dark = tuple(int(v * 0.75) for v in wk.trousers)
    hip_y, shoulder_y = 0.52 * H, 0.81 * H
    swing = 0.42 * math.sin(phase)
    leg = hip_y
    for i, side in enumerate((1.0, -1.0)):
        a = swing * side
        knee = (math.sin(a) * leg * 0.5, hip_y - math.cos(a) * leg * 0.5)
        foot = (math.sin(a) * leg * 0.95, 0.02 * H)
        colour = dark if i else wk.trousers
        cv2.line(frame, p(0.03 * H * side, hip_y), p(*knee), colour, thick(0.085), cv2.LINE_AA)
        cv2.line(frame, p(*knee), p(*foot), colour, thick(0.075), cv2.LINE_AA)
        cv2.line(frame, p(*foot), p(foot[0] + 0.06 * H, 0.01 * H), (30, 30, 30), thick(0.04), cv2.LINE_AA)
    # Torso: a quadrilateral from the shoulders to the hips.
    torso = np.array(
        [p(-0.12 * H, shoulder_y), p(0.12 * H, shoulder_y), p(0.09 * H, hip_y), p(-0.09 * H, hip_y)],
        dtype=np.int32,
    )
    cv2.fillConvexPoly(frame, torso, wk.shirt, cv2.LINE_AA)
    for side in (1.0, -1.0):
        a = -swing * side * 0.8
        elbow = (0.13 * H * side + math.sin(a) * 0.16 * H, shoulder_y - 0.16 * H)
        hand = (0.13 * H * side + math.sin(a) * 0.3 * H, shoulder_y - 0.31 * H)
        shoulder = p(0.11 * H * side, shoulder_y - 0.01 * H)
        cv2.line(frame, shoulder, p(*elbow), wk.shirt, thick(0.06), cv2.LINE_AA)
        cv2.line(frame, p(*elbow), p(*hand), wk.shirt, thick(0.05), cv2.LINE_AA)
        cv2.circle(frame, p(*hand), thick(0.025), wk.skin, -1, cv2.LINE_AA)
    cv2.line(frame, p(0, shoulder_y), p(0, 0.88 * H), wk.skin, thick(0.05), cv2.LINE_AA)
    head = (thick(0.055), max(1, int(0.068 * H * sy)))
    cv2.ellipse(frame, p(0, 0.935 * H), head, 0, 0, 360, wk.skin, -1, cv2.LINE_AA)
    # Hair on top of the head.
    hair = (thick(0.056), max(1, int(0.04 * H * sy)))
    cv2.ellipse(frame, p(0, 0.965 * H), hair, 0, 180, 360, (35, 45, 60), -1, cv2.LINE_AA)
