"""Animal silhouettes, their crossings of the scene and the ground truth they leave."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Species:
    """Body proportions in pixels at the reference scale (720 px frame height, mid-depth)."""

    name: str
    body_len: float
    body_h: float
    leg: float
    speed: tuple[float, float]  # px/s range at reference scale
    colour: Colour
    habitats: tuple[str, ...]
    gait_hz: float
    kind: str  # "quadruped", "hare" or "heron"


SPECIES: dict[str, Species] = {
    s.name: s
    for s in (
        Species("roe_deer", 115, 42, 62, (55, 130), (45, 80, 125), ("forest", "wetland"), 1.6, "quadruped"),
        Species("wild_boar", 105, 55, 28, (45, 90), (48, 52, 58), ("forest", "wetland"), 2.0, "quadruped"),
        Species("fox", 72, 24, 26, (90, 180), (35, 85, 165), ("forest", "wetland"), 2.4, "quadruped"),
        Species("hare", 42, 22, 12, (90, 200), (75, 105, 130), ("forest", "wetland"), 2.5, "hare"),
        Species("heron", 48, 30, 58, (18, 35), (150, 150, 142), ("wetland",), 0.8, "heron"),
    )
}


@dataclass(frozen=True)
class Crossing:
    """One animal walking across the frame on a straight path between two times."""

    species: str
    start_s: float  # when it enters (may still be off-frame for a moment)
    duration_s: float
    x0: float  # path, in frame pixels at the reference 1280x720 scale
    x1: float
    ground_y: float
    scale: float
    behind: bool  # passes behind the foreground vegetation
    pause_at: float  # fraction of the path where it stops to browse (or -1)
    pause_s: float
    # A planted animal may wear a colour closer to the ground's (camouflage), and may only
    # come in to x1 and turn back the way it came (a short, known time in view).
    colour: Colour | None = None
    turn_back: bool = False

    def heading(self, t: float) -> float:
        """+1 when walking towards +x at t, -1 otherwise."""
        forward = 1.0 if self.x1 > self.x0 else -1.0
        if self.turn_back and t - self.start_s > self.duration_s / 2:
            return -forward
        return forward

    def position(self, t: float) -> tuple[float, float] | None:
        """(x, progress) at scene time t, or None outside the crossing."""
        local = t - self.start_s
        if local < 0 or local > self.duration_s:
            return None
        if self.turn_back:
            f = 1.0 - abs(1.0 - 2.0 * local / self.duration_s)
            return self.x0 + (self.x1 - self.x0) * f, f
        walking = self.duration_s - max(0.0, self.pause_s)
        if self.pause_at >= 0:
            pause_start = walking * self.pause_at
            if local < pause_start:
                f = local / walking
            elif local < pause_start + self.pause_s:
                f = self.pause_at
            else:
                f = (local - self.pause_s) / walking
        else:
            f = local / self.duration_s
        return self.x0 + (self.x1 - self.x0) * f, f

    def box(self, t: float) -> tuple[float, float, float, float] | None:
        """The animal's box at the 1280x720 reference scale, unclipped."""
        pos = self.position(t)
        if pos is None:
            return None
        sp = SPECIES[self.species]
        x, _ = pos
        s = self.scale
        length = sp.body_len * s * 1.45
        top = (sp.leg + sp.body_h + _head_rise(sp)) * s
        return x - length / 2, self.ground_y - top, length, top


def _head_rise(sp: Species) -> float:
    return {"quadruped": sp.body_h * 0.9, "hare": sp.body_h * 0.9, "heron": 62.0}[sp.kind]


def plan_crossings(
    rng: np.random.Generator, seconds: float, habitat: str, first_s: float = 15.0
) -> list[Crossing]:
    """A schedule of crossings with quiet gaps between them, deterministic for a seed."""
    names = [n for n, s in SPECIES.items() if habitat in s.habitats]
    out: list[Crossing] = []
    t = first_s
    while True:
        sp = SPECIES[names[int(rng.integers(len(names)))]]
        depth = rng.uniform(0.0, 1.0)
        ground_y = 430 + depth * 260  # 0 = far, 1 = near the camera
        scale = 0.55 + depth * 0.9
        speed = rng.uniform(*sp.speed) * scale
        left = bool(rng.integers(2))
        margin = sp.body_len * scale
        x0, x1 = (-margin, 1280 + margin) if left else (1280 + margin, -margin)
        # Some animals only come part way in and turn back out of sight along the edge.
        if rng.random() < 0.2:
            x1 = x0 + (x1 - x0) * rng.uniform(0.35, 0.6)
        pause_at, pause_s = (-1.0, 0.0)
        if rng.random() < 0.35:
            pause_at, pause_s = rng.uniform(0.3, 0.7), rng.uniform(2.0, 5.0)
        duration = abs(x1 - x0) / speed + pause_s
        if t + duration > seconds - 8:
            break
        out.append(
            Crossing(
                sp.name, t, duration, x0, x1, ground_y, scale, bool(rng.random() < 0.35), pause_at, pause_s
            )
        )
        t += duration + rng.uniform(25.0, 70.0)
    return out


def draw(frame: np.ndarray, c: Crossing, t: float, sx: float, sy: float, night: bool) -> None:
    """Draw the animal of crossing c at time t onto frame (scaled by sx, sy from 1280x720)."""
    pos = c.position(t)
    if pos is None:
        return
    sp = SPECIES[c.species]
    x, _ = pos
    s = c.scale
    direction = c.heading(t)
    local = t - c.start_s
    phase = 2 * math.pi * sp.gait_hz * local
    col = c.colour or sp.colour

    def p(px: float, py: float) -> tuple[int, int]:
        # Body coordinates: px forward, py up from the ground, reference pixels.
        return int((x + direction * px * s) * sx), int((c.ground_y - py * s) * sy)

    def thick(v: float) -> int:
        return max(1, int(v * s * sx))

    def ell(px: float, py: float, ax: float, ay: float, ang: float, colour: Colour) -> None:
        cv2.ellipse(
            frame,
            p(px, py),
            (max(1, int(ax * s * sx)), max(1, int(ay * s * sy))),
            -ang * direction,
            0,
            360,
            colour,
            -1,
            cv2.LINE_AA,
        )

    dark = tuple(int(v * 0.7) for v in col)
    if sp.kind == "quadruped":
        L, H, leg = sp.body_len, sp.body_h, sp.leg
        bob = 2.0 * math.sin(2 * phase)
        for i, fx in enumerate((-0.35, -0.28, 0.3, 0.37)):
            swing = math.sin(phase + (math.pi if i % 2 else 0.0)) * 0.35
            hip = p(fx * L, leg + bob)
            foot = p(fx * L + math.sin(swing) * leg, 0)
            cv2.line(frame, hip, foot, dark if i % 2 else col, thick(H * 0.16), cv2.LINE_AA)
        ell(0, leg + H / 2 + bob, L / 2, H / 2, 0, col)
        head_bob = 3.0 * math.sin(phase)
        neck_base = (0.38 * L, leg + H * 0.7 + bob)
        head = (0.55 * L, leg + H * 1.35 + bob + head_bob)
        cv2.line(frame, p(*neck_base), p(*head), col, thick(H * 0.32), cv2.LINE_AA)
        ell(head[0] + 6, head[1], L * 0.13, H * 0.22, -15, col)
        if c.species == "fox":
            ell(-0.62 * L, leg + H * 0.45 + bob, L * 0.25, H * 0.18, 15, col)
        if night:
            cv2.circle(frame, p(head[0] + 10, head[1] + 3), thick(2.5), (235, 235, 235), -1)
    elif sp.kind == "hare":
        L, H = sp.body_len, sp.body_h
        hop = abs(math.sin(phase)) * 14
        ell(0, H / 2 + hop, L / 2, H / 2, 10, col)
        ell(L * 0.42, H * 0.95 + hop, L * 0.16, H * 0.25, 0, col)
        cv2.line(frame, p(L * 0.4, H * 1.1 + hop), p(L * 0.3, H * 1.9 + hop), col, thick(4), cv2.LINE_AA)
        if night:
            cv2.circle(frame, p(L * 0.5, H + hop), thick(2), (235, 235, 235), -1)
    else:
        L, H, leg = sp.body_len, sp.body_h, sp.leg
        for i in (0, 1):
            swing = math.sin(phase + math.pi * i) * 0.3
            cv2.line(frame, p(0, leg), p(math.sin(swing) * leg, 0), dark, thick(2.5), cv2.LINE_AA)
        ell(0, leg + H / 2, L / 2, H / 2, 20, col)
        neck_top = (L * 0.35, leg + H + 34 + 3 * math.sin(phase))
        cv2.line(frame, p(L * 0.3, leg + H * 0.7), p(*neck_top), col, thick(5), cv2.LINE_AA)
        cv2.line(
            frame, p(*neck_top), p(neck_top[0] + 22, neck_top[1] - 4), (60, 150, 200), thick(2.5), cv2.LINE_AA
        )


@dataclass(frozen=True)
class Planted:
    """An animal placed at a set time, size and contrast (the bench's deaf-period probes)."""

    species: str
    visible_s: float  # when it is first 30 % in frame
    depth: float = 0.5  # 0 = far (small), 1 = near the camera (large)
    speed: float | None = None  # px/s at the 1280x720 reference scale; None: the species' middle
    camouflage: float = 0.0  # 0 = the species' colour .. 1 = the ground's colour
    behind: bool = False
    from_left: bool = True
    reach: float | None = None  # come in until this far (px, reference scale) and turn back; None: cross
    after: str | None = None  # the condition change it probes ("rain_begin", "ir_on", ...)
    delay_s: float | None = None  # seconds after that change

    def crossing(self, ground_colour: tuple[int, int, int] | None) -> Crossing:
        """The Crossing that makes this animal appear at visible_s."""
        sp = SPECIES[self.species]
        scale = 0.55 + self.depth * 0.9
        ground_y = 430 + self.depth * 260
        speed = (self.speed if self.speed is not None else sum(sp.speed) / 2) * scale
        length = sp.body_len * scale * 1.45
        lead = 0.2  # seconds before visible_s at which it starts entering
        x0 = -0.2 * length - speed * lead if self.from_left else 1280 + 0.2 * length + speed * lead
        if self.reach is not None:
            # In until its middle is `reach` px inside the frame, then back out.
            x1 = self.reach if self.from_left else 1280 - self.reach
            duration = 2 * abs(x1 - x0) / speed
        else:
            x1 = 1280 + length if self.from_left else -length
            duration = abs(x1 - x0) / speed
        colour: Colour | None = None
        if self.camouflage > 0 and ground_colour is not None:
            c = self.camouflage
            b, g, r = (round((1 - c) * a + c * b) for a, b in zip(sp.colour, ground_colour, strict=True))
            colour = (b, g, r)
        return Crossing(
            sp.name,
            self.visible_s - lead,
            duration,
            x0,
            x1,
            ground_y,
            scale,
            self.behind,
            -1.0,
            0.0,
            colour=colour,
            turn_back=self.reach is not None,
        )
