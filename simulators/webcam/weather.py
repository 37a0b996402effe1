"""Weather and light episodes the scene can layer over its frames: rain of three kinds, fog,
dusk, snow, low sun, wind gusts and cloud bursts.

Each episode kind is drawn by its own small renderer with its own random generator (seeded from
the scene's seed and the episode's index), so adding an episode never changes the frames or the
animal schedule of a scenario without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

EpisodeKind = Literal[
    "streaks",  # heavy rain: slanted streaks in front of the scene
    "lens_drops",  # rain drops landing on the lens: blurred, refracting discs, some sliding
    "drizzle",  # fine rain: a veil that lowers the contrast, and faint fast speckle
    "fog",  # mist thickening with distance, drifting slowly
    "dusk",  # the light fades, colours wash out, sensor noise grows
    "snow",  # flakes drifting down, near ones large and blurred
    "low_sun",  # glare from a sun just outside the frame, a flare, sun flecks through leaves
    "gust",  # the wind blows 2.5 times harder
    "clouds",  # a cloud burst: deeper, faster cloud shadows
]
KINDS: tuple[str, ...] = EpisodeKind.__args__  # type: ignore[attr-defined]
# Episodes that wet the picture: the bench files animals seen during them under "rain".
PRECIPITATION = frozenset({"streaks", "lens_drops", "drizzle", "snow"})
# Seconds over which an episode fades in and out (except rain streaks and drops, which start
# at once as real showers do at 5 fps).
RAMP_S = {"drizzle": 8.0, "fog": 25.0, "dusk": 0.0, "snow": 6.0, "low_sun": 15.0, "gust": 3.0, "clouds": 10.0}


@dataclass(frozen=True)
class Episode:
    """One weather or light condition over [start_s, end_s), at a strength (1 = typical)."""

    kind: EpisodeKind
    start_s: float
    end_s: float
    strength: float = 1.0

    def level(self, t: float) -> float:
        """0..strength: how much of the episode is present at t (with its fade in and out)."""
        if not self.start_s <= t < self.end_s:
            return 0.0
        ramp = RAMP_S.get(self.kind, 0.0)
        if ramp <= 0:
            return self.strength
        f = min(1.0, (t - self.start_s) / ramp, (self.end_s - t) / ramp)
        return self.strength * max(0.0, f)


@dataclass(frozen=True)
class _Drop:
    t0: float
    life: float
    x: float
    y: float
    r: float
    slide: float  # px/s downwards at reference scale


class Weather:
    """Renders the episodes of a scene; one instance per scene."""

    def __init__(self, episodes: tuple[Episode, ...], seed: int, width: int, height: int) -> None:
        self.episodes = episodes
        self._w, self._h = width, height
        self._s = width / 1280
        self._drops: list[list[_Drop]] = []
        self._flakes: list[np.ndarray] = []
        self._speckle: list[list[np.ndarray]] = []
        self._fog_noise: list[np.ndarray] = []
        self._flecks: list[np.ndarray] = []
        self._glare: np.ndarray | None = None
        for i, ep in enumerate(episodes):
            rng = np.random.default_rng([seed, 0x3EA7, i])
            self._drops.append(self._plan_drops(rng, ep) if ep.kind == "lens_drops" else [])
            self._flakes.append(self._plan_flakes(rng, ep) if ep.kind == "snow" else np.zeros((0, 6)))
            self._speckle.append(self._plan_speckle(rng) if ep.kind == "drizzle" else [])
            fog = ep.kind == "fog"
            self._fog_noise.append(rng.random((12, 40), dtype=np.float32) if fog else np.zeros(0))
            self._flecks.append(rng.uniform(0, 1, (14, 4)) if ep.kind == "low_sun" else np.zeros(0))
        yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
        # Fog is thickest at the horizon (far away) and thin in front of the camera.
        self._fog_depth = np.clip(1.15 - 1.3 * np.abs(yy - 0.38) / 0.62, 0.25, 1.0).astype(np.float32)

    # -- what the scene asks ---------------------------------------------------------------

    def level(self, kind: str, t: float) -> float:
        """The strongest level of episodes of this kind at t."""
        return max((ep.level(t) for ep in self.episodes if ep.kind == kind), default=0.0)

    def wind_factor(self, t: float) -> float:
        """Multiplier on the wind: 1 normally, up to 2.5 in a gust episode."""
        return 1.0 + 1.5 * self.level("gust", t)

    def cloud_factor(self, t: float) -> float:
        """How much deeper cloud shadows are (0 normally, 1 in a full cloud burst)."""
        return self.level("clouds", t)

    def dusk(self, t: float) -> float:
        """0 in daylight, up to 1 at the end of a dusk episode (light fading linearly)."""
        best = 0.0
        for ep in self.episodes:
            if ep.kind == "dusk" and ep.start_s <= t < ep.end_s:
                best = max(best, ep.strength * (t - ep.start_s) / max(1e-6, ep.end_s - ep.start_s))
        return min(1.0, best)

    # -- rendering -------------------------------------------------------------------------

    def apply(self, frame: np.ndarray, t: float, index: int, night: bool) -> np.ndarray:
        """The frame with every active episode drawn over it (before sensor noise)."""
        for i, ep in enumerate(self.episodes):
            lv = ep.level(t)
            if lv <= 0:
                continue
            if ep.kind == "fog":
                frame = self._fog(frame, t, lv, self._fog_noise[i])
            elif ep.kind == "drizzle":
                frame = self._drizzle(frame, lv, self._speckle[i], index)
            elif ep.kind == "snow":
                self._snow(frame, t - ep.start_s, lv, self._flakes[i])
            elif ep.kind == "low_sun" and not night:
                frame = self._low_sun(frame, t, lv, self._flecks[i])
            elif ep.kind == "lens_drops":
                frame = self._lens_drops(frame, t, self._drops[i])
        d = self.dusk(t)
        if d > 0 and not night:
            frame = self._dim(frame, d)
        return frame

    def _plan_drops(self, rng: np.random.Generator, ep: Episode) -> list[_Drop]:
        n = int(ep.strength * (ep.end_s - ep.start_s) / 2.5) + 1  # a new drop every ~2.5 s
        out = []
        for _ in range(n):
            t0 = rng.uniform(ep.start_s, ep.end_s)
            out.append(
                _Drop(
                    t0,
                    rng.uniform(4.0, 25.0),
                    rng.uniform(40, 1240),
                    rng.uniform(20, 600),
                    rng.uniform(10, 38),
                    rng.uniform(6, 30) if rng.random() < 0.4 else 0.0,
                )
            )
        return out

    def _plan_flakes(self, rng: np.random.Generator, ep: Episode) -> np.ndarray:
        n = int(420 * ep.strength)
        # x, y at start, fall speed (px/s), drift amplitude, drift phase, radius (reference px)
        near = rng.random(n) < 0.08
        r = np.where(near, rng.uniform(5, 11, n), rng.uniform(1.0, 3.2, n))
        fall = np.where(near, rng.uniform(90, 160, n), rng.uniform(25, 70, n))
        return np.stack(
            [
                rng.uniform(0, 1280, n),
                rng.uniform(0, 720, n),
                fall,
                rng.uniform(5, 30, n),
                rng.uniform(0, 6.3, n),
                r,
            ],
            axis=1,
        )

    def _plan_speckle(self, rng: np.random.Generator) -> list[np.ndarray]:
        layers = []
        for _ in range(5):
            layer = np.zeros((self._h, self._w), np.uint8)
            n = int(2500 * self._s * self._s) + 50
            xs = rng.integers(0, self._w, n)
            ys = rng.integers(0, self._h, n)
            layer[ys, xs] = rng.integers(12, 30, n).astype(np.uint8)
            layers.append(cv2.GaussianBlur(layer, (3, 3), 0))
        return layers

    def _fog(self, frame: np.ndarray, t: float, lv: float, noise: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        # A coarse density field drifting sideways slowly: fog banks, not a flat veil.
        shift = (t * 0.08) % noise.shape[1]
        rolled = np.roll(noise, -int(shift), axis=1)
        dens = cv2.resize(rolled, (w, h), interpolation=cv2.INTER_CUBIC)
        a = np.clip(lv * 0.62 * self._fog_depth * (0.75 + 0.5 * dens), 0, 0.85).astype(np.float32)
        grey = np.float32(185)
        f = frame.astype(np.float32)
        out: np.ndarray = (f + (grey - f) * a[..., None]).clip(0, 255).astype(np.uint8)
        return out

    def _drizzle(self, frame: np.ndarray, lv: float, speckle: list[np.ndarray], index: int) -> np.ndarray:
        veil = 0.3 * lv
        out = cv2.addWeighted(frame, 1.0 - veil, np.full_like(frame, 170), veil, 0)
        layer = speckle[index % len(speckle)]
        if lv < 1:
            layer = cv2.convertScaleAbs(layer, alpha=lv)
        return cv2.add(out, cv2.merge([layer, layer, layer]))

    def _snow(self, frame: np.ndarray, local: float, lv: float, flakes: np.ndarray) -> None:
        s = self._s
        n = int(len(flakes) * min(1.0, lv))
        for x0, y0, fall, amp, ph, r in flakes[:n]:
            y = (y0 + fall * local) % 760 - 20
            x = x0 + amp * math.sin(0.9 * local + ph)
            rad = max(1, int(r * s))
            # Near flakes are out of focus: paler than the far, sharp ones.
            colour = (238, 238, 238) if r < 5 else (205, 205, 205)
            cv2.circle(frame, (int(x * s), int(y * s)), rad, colour, -1, cv2.LINE_AA)

    def _low_sun(self, frame: np.ndarray, t: float, lv: float, flecks: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if self._glare is None:
            yy, xx = np.ogrid[0:h, 0:w]
            # The sun sits just beyond the top-right corner: glare falls off with distance to
            # it, and a flare (two soft discs) lies on the line from the sun through the centre.
            d = np.sqrt(((xx - 1.05 * w) / w) ** 2 + ((yy + 0.1 * h) / h) ** 2).astype(np.float32)
            glare = (95 * np.clip(1.0 - d / 0.9, 0, 1) ** 2).astype(np.float32)
            g = cv2.merge([glare * 0.6, glare * 0.85, glare])
            for k, (frac, rad) in enumerate(((0.45, 0.05), (0.8, 0.09))):
                cx, cy = int(w * (1.05 - frac * 0.9)), int(h * (-0.1 + frac * 1.1))
                cv2.circle(g, (cx, cy), int(rad * w), (35.0, 30.0, 20.0 * (k + 1)), -1, cv2.LINE_AA)
            self._glare = g
        # Sun flecks on the ground, lit through the swaying leaves: they flicker in place.
        # Drawn at a quarter of the size, blurred, then enlarged: soft spots cost little.
        sw, sh = max(8, w // 4), max(8, h // 4)
        over = np.zeros((sh, sw, 3), np.float32)
        for fx, fy, fr, fp in flecks:
            amp = 0.5 + 0.5 * math.sin(2.3 * t + 6.28 * fp) * math.sin(0.7 * t + 3 * fp)
            c = (int(fx * sw), int((0.55 + 0.4 * fy) * sh))
            rad = max(1, int((10 + 25 * fr) * self._s / 4))
            cv2.circle(over, c, rad, (40 * amp, 55 * amp, 60 * amp), -1, cv2.LINE_AA)
        over = cv2.resize(cv2.GaussianBlur(over, (0, 0), 2.0), (w, h), interpolation=cv2.INTER_LINEAR)
        light = cv2.scaleAdd(cv2.add(self._glare, over), lv, frame.astype(np.float32))
        return light.clip(0, 255).astype(np.uint8)

    def _lens_drops(self, frame: np.ndarray, t: float, drops: list[_Drop]) -> np.ndarray:
        active = [d for d in drops if d.t0 <= t < d.t0 + d.life]
        if not active:
            return frame
        h, w = frame.shape[:2]
        s = self._s
        # A drop is a small lens: it shows a blurred, brighter, upside-down view of what is
        # around it, with a soft dark rim.
        small = cv2.resize(frame, (max(8, w // 8), max(8, h // 8)), interpolation=cv2.INTER_AREA)
        blurred = cv2.resize(cv2.GaussianBlur(small, (5, 5), 0), (w, h), interpolation=cv2.INTER_LINEAR)
        seen = cv2.convertScaleAbs(cv2.flip(blurred, 0), alpha=1.15, beta=12)
        alpha = np.zeros((h, w), np.float32)
        rim = np.zeros((h, w), np.float32)
        for d in active:
            y = d.y + d.slide * (t - d.t0)
            c = (int(d.x * s), int(y * s))
            r = max(2, int(d.r * s))
            cv2.circle(alpha, c, r, 1.0, -1, cv2.LINE_AA)
            cv2.circle(rim, c, r, 0.35, max(1, r // 5), cv2.LINE_AA)
        soft: np.ndarray = cv2.GaussianBlur(alpha, (0, 0), 1.5)
        f = frame.astype(np.float32)
        out = f + (seen.astype(np.float32) - f) * soft[..., None]
        out *= (1.0 - rim)[..., None]
        img: np.ndarray = out.clip(0, 255).astype(np.uint8)
        return img

    @staticmethod
    def _dim(frame: np.ndarray, d: float) -> np.ndarray:
        # Light fades to a quarter; colours wash out towards grey as the sensor runs out of light.
        f = frame.astype(np.float32)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None]
        wash = 0.75 * d
        f = f + (grey - f) * wash
        f *= 1.0 - 0.72 * d
        return f.clip(0, 255).astype(np.uint8)

    def dusk_noise(self, t: float) -> float:
        """Extra sensor noise (sigma multiplier) as the light fades."""
        return 1.0 + 2.0 * self.dusk(t)
