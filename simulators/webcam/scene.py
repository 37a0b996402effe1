"""The webcam scene: renders frame i of a seeded scenario, and its ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from simulators.webcam import animals, textures, walkers
from simulators.webcam.weather import PRECIPITATION, Episode, Weather

Wind = Literal["calm", "breeze", "strong"]

# Peak sway of branches (degrees) and grass (fraction of band height) per wind strength.
WIND_SWAY: dict[str, tuple[float, float]] = {
    "calm": (0.4, 0.01),
    "breeze": (2.0, 0.04),
    "strong": (5.0, 0.09),
}

# Drift of the cloud shadows, in cloud-noise pixels per second (one is 1/32 of the frame width).
CLOUD_SPEED = 0.35


@dataclass(frozen=True)
class SceneConfig:
    """Everything that defines a scenario; the same config renders the same frames."""

    seconds: float = 120.0
    fps: float = 5.0
    width: int = 1280
    height: int = 720
    wind: Wind = "breeze"
    seed: int = 1
    habitat: Literal["forest", "wetland"] = "forest"
    rain: tuple[float, float] | None = None  # (from_s, to_s)
    night_at_s: float | None = None  # IR switch time, None = daylight throughout
    insects_per_hour: float = 40.0  # near the lens, at night only
    clouds: bool = True
    first_animal_s: float = 15.0
    # Weather and light episodes on top of the above (simulators/webcam/weather.py).
    episodes: tuple[Episode, ...] = ()
    dawn_at_s: float | None = None  # IR switched off again (back to colour), None = never
    # Animals at set times, sizes and contrasts; random crossings that would share their
    # minutes (within planted_clear_s) are left out, so each is scored on its own.
    planted: tuple[animals.Planted, ...] = ()
    planted_clear_s: float = 16.0
    random_animals: bool = True
    # People walking on the path (simulators/webcam/walkers.py), for the people detector.
    walkers: tuple[walkers.Walker, ...] = ()

    @property
    def frames(self) -> int:
        """Total number of frames."""
        return round(self.seconds * self.fps)


@dataclass(frozen=True)
class Insect:
    """A moth or midge lit by the IR lamp, close to the lens: a big blurry bright blob."""

    start_s: float
    duration_s: float
    x: float
    y: float
    vx: float
    vy: float
    radius: float
    wobble: float


@dataclass(frozen=True)
class _Placed:
    sprite: textures.Sprite
    x: int  # top-left of the sprite in the frame
    y: int
    phase: float
    freq: float


@dataclass
class Scene:
    """Renders frames of a scenario on demand; all randomness comes from the seed."""

    config: SceneConfig
    crossings: list[animals.Crossing] = field(init=False)
    insects: list[Insect] = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        w, h = cfg.width, cfg.height
        self._sx, self._sy = w / 1280, h / 720
        self._bg = textures.background(rng, w, h, cfg.habitat)
        self._vegetation: list[_Placed] = []
        # Hanging branches from the top and bushes at the bottom corners.
        for fx, fy, fw, fh, anchor_top in (
            (-0.05, -0.05, 0.45, 0.45, True),
            (0.62, -0.08, 0.45, 0.40, True),
            (0.20, 0.50, 0.22, 0.45, False),
            (0.74, 0.55, 0.24, 0.40, False),
        ):
            sw, sh = int(fw * w), int(fh * h)
            anchor = (sw * (0.1 if fx < 0.5 else 0.9), 0.0) if anchor_top else (sw / 2, sh)
            sprite = textures.leafy_sprite(rng, sw, sh, anchor, dense=rng.uniform(0.8, 1.2))
            self._vegetation.append(
                _Placed(sprite, int(fx * w), int(fy * h), rng.uniform(0, 6.28), rng.uniform(0.25, 0.6))
            )
        self._grass_h = int(0.14 * h)
        self._grass = textures.grass_band(rng, w, self._grass_h)
        # Drawn from the main generator only to keep every later draw (animals, rain) as it was.
        textures.smooth_noise(rng, 96, 24, 6)
        self._cloud_phase = rng.uniform(0, 40)
        # Cloud shadows drift one way for the whole scenario, so the strip they are cut from is
        # long enough never to wrap: a wrap made the whole shade pattern jump at once every
        # 137 s, which real clouds never do. Its own generator keeps the other draws unchanged.
        strip = int(self._cloud_phase + CLOUD_SPEED * cfg.seconds) + 48
        self._clouds = textures.smooth_noise(np.random.default_rng([cfg.seed, 0xC10D]), strip, 24, 6)
        self._rain = textures.rain_layers(rng, w, h, 6)
        self._noise_day = textures.noise_pair(rng, w, h, 2.0)
        self._noise_night = textures.noise_pair(rng, w, h, 6.0)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        self._ir_falloff = (1.15 - 0.45 * r2).clip(0.35, 1.2).astype(np.float32)
        self.crossings = animals.plan_crossings(rng, cfg.seconds, cfg.habitat, cfg.first_animal_s)
        self.insects = self._plan_insects(rng)
        self._wind = WIND_SWAY[cfg.wind]
        self._gust = rng.uniform(0, 6.28, 3)
        # Everything below draws from its own generators: a scenario without episodes or
        # planted animals renders exactly as before.
        self.weather = Weather(cfg.episodes, cfg.seed, w, h)
        self.planted_info: dict[int, animals.Planted] = {}
        if not cfg.random_animals:
            self.crossings = []
        if cfg.planted:
            self._plant()

    def _plant(self) -> None:
        cfg = self.config
        windows = [(p.visible_s - cfg.planted_clear_s, p.visible_s + cfg.planted_clear_s + 25.0)
                   for p in cfg.planted]
        kept = [
            c for c in self.crossings
            if not any(c.start_s < b and c.start_s + c.duration_s > a for a, b in windows)
        ]
        pairs: list[tuple[animals.Crossing, animals.Planted | None]] = [(c, None) for c in kept]
        pairs += [(p.crossing(self._ground_colour(p.depth)), p) for p in cfg.planted]
        pairs.sort(key=lambda cp: cp[0].start_s)
        self.crossings = [c for c, _ in pairs]
        self.planted_info = {i: p for i, (_, p) in enumerate(pairs) if p is not None}

    def _ground_colour(self, depth: float) -> tuple[int, int, int]:
        """Mean BGR of the background around the ground line at this depth (reference scale)."""
        h = self._bg.shape[0]
        y = int((430 + depth * 260 - 30) * self._sy)
        band = self._bg[max(0, y - int(20 * self._sy)) : min(h, y + int(20 * self._sy)) + 1]
        b, g, r = (int(v) for v in band.reshape(-1, 3).mean(axis=0))
        return b, g, r

    def _plan_insects(self, rng: np.random.Generator) -> list[Insect]:
        cfg = self.config
        if cfg.night_at_s is None or cfg.insects_per_hour <= 0:
            return []
        night_s = cfg.seconds - cfg.night_at_s
        n = int(rng.poisson(cfg.insects_per_hour * night_s / 3600))
        out = []
        for _ in range(n):
            speed = rng.uniform(150, 600)
            ang = rng.uniform(0, 6.28)
            out.append(
                Insect(
                    cfg.night_at_s + rng.uniform(0, night_s),
                    rng.uniform(0.2, 1.5),
                    rng.uniform(100, 1180),
                    rng.uniform(80, 640),
                    speed * math.cos(ang),
                    speed * math.sin(ang),
                    rng.uniform(5, 22),
                    rng.uniform(0, 6.28),
                )
            )
        return out

    # -- rendering -------------------------------------------------------------------------

    def gust(self, t: float) -> float:
        """Wind strength multiplier at t (0.3..1.5): slow gusts on top of the mean wind."""
        g = self._gust
        v = (
            0.9
            + 0.35 * math.sin(0.11 * t + g[0])
            + 0.25 * math.sin(0.37 * t + g[1]) * math.sin(0.053 * t + g[2])
        )
        return max(0.3, v)

    def is_night(self, t: float) -> bool:
        """True while the camera is on IR (from night_at_s until dawn_at_s, if any)."""
        cfg = self.config
        if cfg.night_at_s is None or t < cfg.night_at_s:
            return False
        return cfg.dawn_at_s is None or t < cfg.dawn_at_s or cfg.dawn_at_s <= cfg.night_at_s

    def raining(self, t: float) -> bool:
        """True during the rain episode."""
        r = self.config.rain
        return r is not None and r[0] <= t < r[1]

    def wet(self, t: float) -> bool:
        """True while any precipitation falls or sits on the lens (rain of any kind, snow)."""
        return self.raining(t) or any(
            ep.kind in PRECIPITATION and ep.start_s <= t < ep.end_s for ep in self.config.episodes
        )

    def changes(self) -> list[dict[str, Any]]:
        """Every sudden change of conditions: episode begins and ends, IR on and off."""
        cfg = self.config
        out: list[dict[str, Any]] = []
        if cfg.rain:
            out += [{"t": cfg.rain[0], "change": "rain_begin"}, {"t": cfg.rain[1], "change": "rain_end"}]
        for ep in cfg.episodes:
            out.append({"t": ep.start_s, "change": f"{ep.kind}_begin"})
            if ep.end_s < cfg.seconds:
                out.append({"t": ep.end_s, "change": f"{ep.kind}_end"})
        if cfg.night_at_s is not None:
            out.append({"t": cfg.night_at_s, "change": "ir_on"})
        if cfg.dawn_at_s is not None and cfg.night_at_s is not None and cfg.dawn_at_s > cfg.night_at_s:
            out.append({"t": cfg.dawn_at_s, "change": "ir_off"})
        return sorted(out, key=lambda c: float(c["t"]))

    def render(self, index: int) -> np.ndarray:
        """The BGR frame number `index` (wraps around the scenario)."""
        cfg = self.config
        index %= max(1, cfg.frames)
        t = index / cfg.fps
        night = self.is_night(t)
        frame = self._bg.copy()
        front = []
        for wk in cfg.walkers:
            if wk.behind:  # under the foreground branches and bushes: partly hidden
                walkers.draw(frame, wk, t, self._sx, self._sy)
        for c in self.crossings:
            if c.position(t) is None:
                continue
            if c.behind:
                animals.draw(frame, c, t, self._sx, self._sy, night)
            else:
                front.append(c)
        sway_deg, grass_amp = self._wind
        gust = self.gust(t) * self.weather.wind_factor(t)
        for v in self._vegetation:
            ang = sway_deg * gust * math.sin(2 * math.pi * v.freq * t + v.phase)
            # Leaves flutter on top of the slow sway in anything stronger than calm.
            ang += sway_deg * 0.25 * gust * math.sin(2 * math.pi * 2.7 * v.freq * t + 2 * v.phase)
            self._paste(frame, v, ang)
        for c in front:
            animals.draw(frame, c, t, self._sx, self._sy, night)
        for wk in cfg.walkers:
            if not wk.behind:
                walkers.draw(frame, wk, t, self._sx, self._sy)
        self._paste_grass(frame, t, grass_amp * gust)
        if cfg.clouds and not night:
            # Cloud shadows need the sun: at night the IR lamp is the only light.
            frame = self._light(frame, t)
        streaks = self.weather.level("streaks", t)
        if self.raining(t) or streaks > 0:
            layer = self._rain[index % len(self._rain)]
            if streaks > 1.0 and not self.raining(t):
                layer = cv2.convertScaleAbs(layer, alpha=streaks)
            frame = cv2.add(frame, cv2.merge([layer, layer, layer]))
        if cfg.episodes:
            frame = self.weather.apply(frame, t, index, night)
        if night:
            frame = self._infrared(frame, t)
            self._draw_insects(frame, t)
            pos, neg = self._noise_night
        else:
            pos, neg = self._noise_day
        rng = np.random.default_rng((cfg.seed * 1_000_003 + index) & 0xFFFFFFFF)
        ox, oy = int(rng.integers(16)), int(rng.integers(16))
        h, w = frame.shape[:2]
        p = pos[oy : oy + h, ox : ox + w]
        n = neg[oy : oy + h, ox : ox + w]
        gain = 1.0 if night else self.weather.dusk_noise(t)
        if gain > 1.0:
            # Dusk: the sensor turns its gain up as the light fades, and the noise with it.
            p, n = cv2.convertScaleAbs(p, alpha=gain), cv2.convertScaleAbs(n, alpha=gain)
        frame = cv2.subtract(cv2.add(frame, cv2.merge([p, p, p])), cv2.merge([n, n, n]))
        return frame

    def _paste(self, frame: np.ndarray, v: _Placed, angle_deg: float) -> None:
        sp = v.sprite
        sh, sw = sp.alpha.shape
        m = cv2.getRotationMatrix2D(sp.anchor, angle_deg, 1.0)
        bgr = cv2.warpAffine(sp.bgr, m, (sw, sh), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(sp.alpha, m, (sw, sh), flags=cv2.INTER_LINEAR)
        self._blend(frame, bgr, alpha, v.x, v.y)

    @staticmethod
    def _blend(frame: np.ndarray, bgr: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
        h, w = frame.shape[:2]
        sh, sw = alpha.shape
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sw, w), min(y + sh, h)
        if x1 <= x0 or y1 <= y0:
            return
        a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
        src = bgr[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
        dst = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (dst + (src - dst) * a).astype(np.uint8)

    def _paste_grass(self, frame: np.ndarray, t: float, amp: float) -> None:
        g = self._grass
        gh, gw = g.alpha.shape
        # Blades bend more at the tip: shift each row by an amount growing with height.
        rows = np.arange(gh, dtype=np.float32)
        bend = (1 - rows / gh) ** 2 * amp * gh
        cols = np.arange(gw, dtype=np.float32)
        wave = np.sin(cols / (gw / 9) - 2.1 * t)[None, :]
        map_x = (cols[None, :] + bend[:, None] * wave).astype(np.float32)
        map_y = np.repeat(rows[:, None], gw, axis=1)
        bgr = cv2.remap(g.bgr, map_x, map_y, cv2.INTER_LINEAR)
        alpha = cv2.remap(g.alpha, map_x, map_y, cv2.INTER_LINEAR)
        self._blend(frame, bgr, alpha, 0, frame.shape[0] - gh)

    def _light(self, frame: np.ndarray, t: float) -> np.ndarray:
        # Cloud shadows drift across: a smooth field sliding sideways, darkening by up to 30 %.
        h, w = frame.shape[:2]
        shift = self._cloud_phase + t * CLOUD_SPEED
        burst = self.weather.cloud_factor(t)
        window = cv2.getRectSubPix(self._clouds, (32, 18), (16 + shift, 12))
        # A cloud burst: the same clouds, denser and darker (up to half the light).
        shade = 1.0 - (0.3 + 0.2 * burst) * np.clip((window - 0.35 + 0.2 * burst) * 2.5, 0, 1)
        light = cv2.resize(shade.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.multiply(frame, cv2.merge([light, light, light]), dtype=cv2.CV_8U)

    def _infrared(self, frame: np.ndarray, t: float) -> np.ndarray:
        # Foliage reflects near-infrared: green weighs most; the lamp lights the centre best.
        b, g, r = cv2.split(frame.astype(np.float32))
        ir = (0.15 * b + 0.6 * g + 0.35 * r) * self._ir_falloff * 0.85
        grey = ir.clip(0, 255).astype(np.uint8)
        out: np.ndarray = cv2.merge([grey, grey, grey])
        return out

    def _draw_insects(self, frame: np.ndarray, t: float) -> None:
        for ins in self.insects:
            local = t - ins.start_s
            if not 0 <= local <= ins.duration_s:
                continue
            x = (ins.x + ins.vx * local + 40 * math.sin(9 * local + ins.wobble)) * self._sx
            y = (ins.y + ins.vy * local + 40 * math.cos(7 * local + ins.wobble)) * self._sy
            r = max(2, int(ins.radius * self._sx))
            overlay = frame.copy()
            cv2.circle(overlay, (int(x), int(y)), r, (250, 250, 250), -1, cv2.LINE_AA)
            cv2.addWeighted(overlay, 0.55, frame, 0.45, 0, dst=frame)

    # -- ground truth ----------------------------------------------------------------------

    def truth(self, box_step_s: float = 1.0) -> dict[str, Any]:
        """Per-animal visible interval and normalised boxes, plus the scenario's conditions."""
        cfg = self.config
        items = []
        for n, c in enumerate(self.crossings):
            boxes: list[list[float]] = []
            visible: list[float] = []
            steps = int(c.duration_s * cfg.fps) + 1
            for k in range(steps):
                t = c.start_s + k / cfg.fps
                box = _visible_box(c.box(t))
                if box is None:
                    continue
                visible.append(t)
                if not boxes or t - boxes[-1][0] >= box_step_s - 1e-9:
                    boxes.append([round(t, 3), *box])
            if not visible:
                continue
            item: dict[str, Any] = {
                "id": n + 1,
                "species": c.species,
                "start_s": round(visible[0], 3),
                "end_s": round(visible[-1], 3),
                "behind_vegetation": c.behind,
                "scale": round(c.scale, 3),
                "boxes": boxes,
            }
            p = self.planted_info.get(n)
            if p is not None:
                item["planted"] = {
                    "after": p.after,
                    "delay_s": p.delay_s,
                    "camouflage": p.camouflage,
                    "depth": p.depth,
                }
            items.append(item)
        return {
            "seconds": cfg.seconds,
            "fps": cfg.fps,
            "width": cfg.width,
            "height": cfg.height,
            "wind": cfg.wind,
            "seed": cfg.seed,
            "habitat": cfg.habitat,
            "rain": list(cfg.rain) if cfg.rain else None,
            "night_at_s": cfg.night_at_s,
            "insects": len(self.insects),
            "episodes": [
                {"kind": ep.kind, "start_s": ep.start_s, "end_s": ep.end_s, "strength": ep.strength}
                for ep in cfg.episodes
            ],
            "dawn_at_s": cfg.dawn_at_s,
            "changes": self.changes(),
            "animals": items,
            "people": self._people_truth(box_step_s),
        }

    def _people_truth(self, box_step_s: float) -> list[dict[str, Any]]:
        cfg = self.config
        out = []
        for n, wk in enumerate(cfg.walkers):
            boxes: list[list[float]] = []
            visible: list[float] = []
            for k in range(int(wk.duration_s * cfg.fps) + 1):
                t = wk.start_s + k / cfg.fps
                box = _visible_box(wk.box(t))
                if box is None:
                    continue
                visible.append(t)
                if not boxes or t - boxes[-1][0] >= box_step_s - 1e-9:
                    boxes.append([round(t, 3), *box])
            if visible:
                out.append(
                    {
                        "id": n + 1,
                        "start_s": round(visible[0], 3),
                        "end_s": round(visible[-1], 3),
                        "height_px": wk.height,
                        "behind_vegetation": wk.behind,
                        "boxes": boxes,
                    }
                )
        return out


def _visible_box(
    box: tuple[float, float, float, float] | None, min_inside: float = 0.3
) -> list[float] | None:
    """The normalised part of a reference-scale box inside the frame, if enough of it is."""
    if box is None:
        return None
    x, y, w, h = box
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(1280.0, x + w), min(720.0, y + h)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) < min_inside * w:
        return None
    return [round(x0 / 1280, 4), round(y0 / 720, 4), round((x1 - x0) / 1280, 4), round((y1 - y0) / 720, 4)]
