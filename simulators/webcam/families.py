"""Scene families for `make bench-motion`: separate mixes of weather, light and animals.

The TUNING families are the footage defaults may be chosen on; the HELDOUT ones are only ever
scored, so that a change tuned on one kind of weather is measured on others. Each family is
ten minutes of footage with its own habitat, wind, weather episodes and IR switches, and it
plants animals at set delays after every change of conditions (rain starting or stopping, a
gust, a cloud burst, the IR switch...), of every size and contrast, to measure how long the
detector stays deaf after a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from simulators.webcam.animals import SPECIES, Planted
from simulators.webcam.scene import Scene, SceneConfig, Wind
from simulators.webcam.weather import Episode

# Delays (s) after a change at which planted animals appear, taken in turn: short ones to see
# whether the detector is back within 2 s, long ones to see how long a deaf spell lasts.
SHORT_DELAYS = (0.5, 1.0, 1.5, 2.0)
LONG_DELAYS = (3.0, 5.0, 10.0, 30.0, 60.0, 100.0)
# How the planted animals look, in turn: (species, depth 0 far..1 near, camouflage, speed px/s
# at reference scale or None for the species' own).
LOOKS: tuple[tuple[str, float, float, float | None], ...] = (
    ("hare", 0.05, 0.0, None),  # small and far
    ("roe_deer", 0.95, 0.0, None),  # near and large
    ("fox", 0.4, 0.6, None),  # camouflaged
    ("wild_boar", 0.3, 0.0, 35.0),  # slow
    ("roe_deer", 0.1, 0.55, None),  # far and camouflaged
    ("hare", 0.6, 0.45, 45.0),  # slow and camouflaged
    ("heron", 0.5, 0.3, None),  # wetland only; a deer elsewhere
)
# Planted animals never come closer than this to one another (pre-roll + gap + post-roll), so
# one event cannot catch two of them.
APART_S = 30.0
# Planted animals come in until their middle is this far into the frame (reference px), then
# turn back: a few seconds in view for most, longer for the slow ones.
REACH = 300.0
PEEK_S = 8.0  # about the longest a planted animal is in view, to keep them inside the clip


@dataclass(frozen=True)
class Family:
    """A named scenario builder: seed -> SceneConfig."""

    name: str
    summary: str
    build: Callable[[int, int, int], SceneConfig]


def _plant(cfg: SceneConfig, seed: int) -> SceneConfig:
    """The config with animals planted after each change (and one crossing each IR switch)."""
    changes = Scene(cfg).changes()  # cheap enough: the background is rendered once here
    planted: list[Planted] = []
    taken: list[float] = []

    def free(t: float) -> bool:
        return t + PEEK_S + 8 < cfg.seconds and all(abs(t - u) >= APART_S for u in taken)

    # Three passes, so that a long-delay probe never takes the place of a short one or of an
    # IR crossing: first an animal in view at each IR switch (it entered 1.5 s before), then
    # one 0.5-2 s after every change, then one 3-100 s after it where there is room.
    passes: list[list[tuple[float, float, str]]] = [[], [], []]
    for i, ch in enumerate(changes):
        t0, name = float(ch["t"]), str(ch["change"])
        if name in ("ir_on", "ir_off"):
            passes[0].append((t0 - 1.5, -1.5, name))
        short = SHORT_DELAYS[i % len(SHORT_DELAYS)]
        passes[1].append((t0 + short, short, name))
        long = LONG_DELAYS[(i + seed) % len(LONG_DELAYS)]
        passes[2].append((t0 + long, long, name))
    k = seed
    for t, delay, name in (slot for p in passes for slot in p):
        if not free(t):
            continue
        species, depth, camo, speed = LOOKS[k % len(LOOKS)]
        k += 1
        if cfg.habitat not in SPECIES[species].habitats:
            species = "roe_deer"
        planted.append(
            Planted(
                species,
                t,
                depth=depth,
                speed=speed,
                camouflage=camo,
                behind=False,
                from_left=bool(k % 2),
                reach=REACH,
                after=name,
                delay_s=delay,
            )
        )
        taken.append(t)
    planted.sort(key=lambda p: p.visible_s)
    return replace(cfg, planted=tuple(planted))


def _config(
    seed: int,
    width: int,
    height: int,
    habitat: str,
    wind: Wind,
    episodes: tuple[Episode, ...],
    night_at: float | None,
    dawn_at: float | None = None,
) -> SceneConfig:
    cfg = SceneConfig(
        seconds=600.0,
        fps=5.0,
        width=width,
        height=height,
        wind=wind,
        seed=seed,
        habitat="wetland" if habitat == "wetland" else "forest",
        rain=None,
        night_at_s=night_at,
        dawn_at_s=dawn_at,
        episodes=episodes,
        insects_per_hour=40.0,
    )
    return _plant(cfg, seed)


def _t_forest_streaks(seed: int, w: int, h: int) -> SceneConfig:
    return _config(
        seed, w, h, "forest", "breeze",
        (Episode("streaks", 110, 215), Episode("gust", 265, 300), Episode("clouds", 335, 385)),
        night_at=455,
    )


def _t_wetland_drops_fog(seed: int, w: int, h: int) -> SceneConfig:
    return _config(
        seed, w, h, "wetland", "strong",
        (Episode("streaks", 95, 190, 0.8), Episode("lens_drops", 95, 205), Episode("fog", 255, 375),
         Episode("dusk", 395, 470)),
        night_at=470, dawn_at=560,
    )


def _t_forest_snow_sun(seed: int, w: int, h: int) -> SceneConfig:
    # Added for tuning so that drizzle, snow and low sun are not seen only on held-out scenes.
    return _config(
        seed, w, h, "forest", "calm",
        (Episode("low_sun", 40, 150, 1.2), Episode("drizzle", 175, 260, 1.2), Episode("snow", 290, 380, 1.2),
         Episode("clouds", 400, 440), Episode("dusk", 445, 500)),
        night_at=500,
    )


def _t_wetland_haze_dawn(seed: int, w: int, h: int) -> SceneConfig:
    return _config(
        seed, w, h, "wetland", "breeze",
        (Episode("fog", 20, 120, 0.8), Episode("drizzle", 140, 230), Episode("lens_drops", 150, 240, 1.0),
         Episode("gust", 260, 290), Episode("low_sun", 320, 420, 0.8)),
        night_at=440, dawn_at=530,
    )


def _h_forest_drizzle_snow(seed: int, w: int, h: int) -> SceneConfig:
    return _config(
        seed, w, h, "forest", "strong",
        (Episode("drizzle", 80, 195), Episode("gust", 235, 265), Episode("snow", 300, 400),
         Episode("dusk", 420, 480)),
        night_at=480,
    )


def _h_wetland_downpour_sun(seed: int, w: int, h: int) -> SceneConfig:
    return _config(
        seed, w, h, "wetland", "breeze",
        (Episode("low_sun", 20, 200), Episode("streaks", 220, 300, 1.4), Episode("lens_drops", 220, 310, 1.3),
         Episode("clouds", 345, 400), Episode("gust", 345, 375)),
        night_at=465, dawn_at=555,
    )


def _h_forest_fog_storm(seed: int, w: int, h: int) -> SceneConfig:
    return _config(
        seed, w, h, "forest", "breeze",
        (Episode("fog", 30, 165, 1.2), Episode("streaks", 200, 265), Episode("gust", 200, 240),
         Episode("lens_drops", 215, 300, 0.8), Episode("drizzle", 300, 360), Episode("low_sun", 380, 430)),
        night_at=450,
    )


TUNING: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "forest_streaks",
            "forest, breeze: heavy rain, a gust, a cloud burst, IR at 455 s",
            _t_forest_streaks,
        ),
        Family(
            "wetland_drops_fog",
            "wetland, strong wind: shower with drops on the lens, fog, dusk, IR 470-560 s",
            _t_wetland_drops_fog,
        ),
        Family(
            "forest_snow_sun",
            "forest, calm: low sun, drizzle haze, snow, a cloud burst, dusk, IR at 500 s",
            _t_forest_snow_sun,
        ),
        Family(
            "wetland_haze_dawn",
            "wetland, breeze: fog, drizzle with drops on the lens, a gust, low sun, IR 440-530 s",
            _t_wetland_haze_dawn,
        ),
    )
}
HELDOUT: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "forest_drizzle_snow",
            "forest, strong wind: drizzle haze, a gust, snow, dusk, IR at 480 s",
            _h_forest_drizzle_snow,
        ),
        Family(
            "wetland_downpour_sun",
            "wetland, breeze: low sun, downpour with drops on the lens, cloud burst and gust, IR 465-555 s",
            _h_wetland_downpour_sun,
        ),
        Family(
            "forest_fog_storm",
            "forest, breeze: thick fog, storm (streaks, gust, drops), drizzle, low sun, IR at 450 s",
            _h_forest_fog_storm,
        ),
    )
}
