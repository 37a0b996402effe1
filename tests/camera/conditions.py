"""Short simulator scenes, one per weather or light condition, for the detector tests.

Each scene is calm footage at 320x180 in which one condition changes at CHANGE_S and one animal
comes into view PLANT_DELAY_S later (or crosses while the IR switch happens), so a test can ask
whether the detector is back at full sensitivity within 2 s of the change. A control version
without the animal tells what the condition alone makes the detector do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from camera.config import EventConfig, MotionConfig
from camera.detect.registry import make_detector
from camera.events import EventEnded, EventTracker
from simulators.webcam.animals import Planted
from simulators.webcam.scene import Scene, SceneConfig
from simulators.webcam.weather import Episode

FPS = 5.0
SECONDS = 12.0
CHANGE_S = 6.0  # after the detector's 3 s warm-up and a little settling
PLANT_DELAY_S = 1.0  # the animal comes into view this long after the change

# Ongoing episodes end long after the scene, so that their fade-out never shows in it.
ONGOING = 1000.0
# condition -> (episodes, night_at_s, dawn_at_s, the animal's delay after the change)
CONDITIONS: dict[str, tuple[tuple[Episode, ...], float | None, float | None, float]] = {
    "rain_begins": ((Episode("streaks", CHANGE_S, ONGOING, 1.4),), None, None, PLANT_DELAY_S),
    "rain_ends": ((Episode("streaks", 0.0, CHANGE_S, 1.4),), None, None, PLANT_DELAY_S),
    "lens_drops": ((Episode("lens_drops", CHANGE_S, ONGOING, 2.0),), None, None, PLANT_DELAY_S),
    "drizzle": ((Episode("drizzle", CHANGE_S - 8.0, ONGOING),), None, None, PLANT_DELAY_S),
    "fog": ((Episode("fog", CHANGE_S - 25.0, ONGOING),), None, None, PLANT_DELAY_S),
    "snow": ((Episode("snow", CHANGE_S, ONGOING),), None, None, PLANT_DELAY_S),
    "dusk": ((Episode("dusk", CHANGE_S - 40.0, SECONDS + 10.0),), None, None, PLANT_DELAY_S),
    "low_sun": ((Episode("low_sun", CHANGE_S - 15.0, ONGOING),), None, None, PLANT_DELAY_S),
    "gust_begins": ((Episode("gust", CHANGE_S, ONGOING),), None, None, PLANT_DELAY_S),
    "cloud_burst": ((Episode("clouds", CHANGE_S - 10.0, ONGOING),), None, None, PLANT_DELAY_S),
    # In view 0.3 s before the switch: too soon for the persistence rule, so it must be seen
    # after the switch.
    "ir_on_while_crossing": ((), CHANGE_S, None, -0.3),
    "ir_off": ((), 0.0, CHANGE_S, PLANT_DELAY_S),
}
# The animal of each scene: (species, depth, camouflage)
ANIMAL = ("roe_deer", 0.7, 0.0)


@dataclass
class Outcome:
    """What the detector made of one scene."""

    events: list[EventEnded]
    visible: tuple[float, float] | None  # the animal's time in view, None without one

    def caught(self) -> list[EventEnded]:
        """Events that overlap the animal's time in view."""
        if self.visible is None:
            return []
        s, e = self.visible
        return [ev for ev in self.events if ev.start_ts <= e and ev.end_ts >= s]


@lru_cache(maxsize=4)
def scene(
    condition: str, animal: bool = True, change_s: float = CHANGE_S, seconds: float = SECONDS
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The frames and truth of one condition's scene (its change moved to change_s)."""
    episodes, night_at, dawn_at, delay = CONDITIONS[condition]
    shift = change_s - CHANGE_S
    episodes = tuple(
        Episode(e.kind, e.start_s + shift if e.start_s > 0 else e.start_s, e.end_s + shift, e.strength)
        for e in episodes
    )
    night_at = night_at + shift if night_at else night_at
    dawn_at = dawn_at + shift if dawn_at else dawn_at
    species, depth, camo = ANIMAL
    planted = (
        (
            Planted(
                species,
                change_s + delay,
                depth=depth,
                camouflage=camo,
                reach=160.0,
                after=condition,
                delay_s=delay,
            ),
        )
        if animal
        else ()
    )
    cfg = SceneConfig(
        seconds=seconds,
        fps=FPS,
        width=320,
        height=180,
        wind="calm",
        seed=4,
        night_at_s=night_at,
        dawn_at_s=dawn_at,
        episodes=episodes,
        planted=planted,
        random_animals=False,
        insects_per_hour=0.0,
    )
    sc = Scene(cfg)
    return [sc.render(i) for i in range(cfg.frames)], sc.truth()


def detect(detector: str, frames: list[np.ndarray], truth: dict[str, Any]) -> Outcome:
    """Run a detector and the event logic over a scene."""
    det = make_detector(MotionConfig(detector=detector))
    tracker = EventTracker(EventConfig())
    events: list[EventEnded] = []
    for i, f in enumerate(frames):
        events += [e for e in tracker.update(i / FPS, det.process(f, i / FPS)) if isinstance(e, EventEnded)]
    events += tracker.flush(len(frames) / FPS)
    animals = truth["animals"]
    visible = (float(animals[0]["start_s"]), float(animals[0]["end_s"])) if animals else None
    return Outcome(events, visible)
