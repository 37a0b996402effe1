"""The people proposal measured on the simulator's scenes (issue 11 §1): recall on scenes with a
walker, false flags per hour on animal-only scenes, across the weather and light variety.

`measure()` returns the figures (the coordinator's `make bench-review` calls it); run alone it
prints one JSON line: `.venv/bin/python bench/review_people.py`.

Each event is what the camera worker would hand the detector: the crossing's span as the motion
detector sees it (the ground truth's visible span, plus the worker's 2 s of pre- and post-roll),
and the same three frames (camera.people.sample_offsets: the middle as the peak, a quarter and
three quarters in), through the same code (camera.people.propose_images, default settings). The
motion detector itself is left out, so these figures are the people detector's alone."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from camera import people
from simulators.webcam.scene import Scene, SceneConfig
from simulators.webcam.walkers import Walker
from simulators.webcam.weather import Episode

ROLL_S = 2.0
SEEDS = (1, 2, 3)
ANIMAL_SECONDS = 600.0


@dataclass(frozen=True)
class Condition:
    """A kind of scene: its config for a seed (and, for walkers, the walker's height)."""

    name: str
    make: Callable[[int], SceneConfig]


def _walker(seed: int, height: float = 300.0, behind: bool = False, ground_y: float | None = None) -> Walker:
    rng = np.random.default_rng(seed + 100)
    left = bool(rng.integers(2))
    speed = rng.uniform(140, 220) * height / 300  # about 1.2 m/s, scaled with the distance
    x0, x1 = (-80.0, 1360.0) if left else (1360.0, -80.0)
    shirts = ((150, 70, 40), (40, 40, 160), (60, 120, 60), (200, 200, 200), (30, 30, 30))
    return Walker(
        start_s=4.0,
        duration_s=abs(x1 - x0) / speed,
        x0=x0,
        x1=x1,
        ground_y=ground_y if ground_y is not None else 640.0,
        height=height,
        shirt=shirts[int(rng.integers(len(shirts)))],
        behind=behind,
        stride_hz=float(rng.uniform(0.8, 1.0)),
    )


def _cfg(seed: int, walkers: tuple[Walker, ...] = (), seconds: float = 22.0, **kw: Any) -> SceneConfig:
    return SceneConfig(
        seconds=seconds, seed=seed, walkers=walkers, random_animals=not walkers, first_animal_s=5.0, **kw
    )


WALKER_CONDITIONS = (
    Condition("day", lambda s: _cfg(s, (_walker(s),))),
    Condition("wetland", lambda s: _cfg(s, (_walker(s),), habitat="wetland")),
    Condition("rain", lambda s: _cfg(s, (_walker(s),), rain=(0.0, 22.0))),
    Condition("fog", lambda s: _cfg(s, (_walker(s),), episodes=(Episode("fog", 0.0, 60.0, 1.0),))),
    Condition("dusk", lambda s: _cfg(s, (_walker(s),), episodes=(Episode("dusk", 0.0, 60.0, 1.0),))),
    Condition("night_ir", lambda s: _cfg(s, (_walker(s),), night_at_s=0.0)),
    Condition("far_small", lambda s: _cfg(s, (_walker(s, height=160.0, ground_y=520.0),))),
    Condition("near_large", lambda s: _cfg(s, (_walker(s, height=460.0, ground_y=700.0),))),
    Condition("behind_vegetation", lambda s: _cfg(s, (_walker(s, behind=True),))),
)
ANIMAL_CONDITIONS = (
    Condition("day", lambda s: _cfg(s, seconds=ANIMAL_SECONDS)),
    Condition("wetland", lambda s: _cfg(s, seconds=ANIMAL_SECONDS, habitat="wetland")),
    Condition("rain", lambda s: _cfg(s, seconds=ANIMAL_SECONDS, rain=(0.0, ANIMAL_SECONDS))),
    Condition("night_ir", lambda s: _cfg(s, seconds=ANIMAL_SECONDS, night_at_s=0.0)),
)


def _event_frames(scene: Scene, start_s: float, end_s: float) -> list[tuple[float, Any]]:
    """The frames the worker would look at for an event spanning [start_s, end_s]."""
    cfg = scene.config
    clip_start = max(0.0, start_s - ROLL_S)
    clip_end = min(cfg.seconds, end_s + ROLL_S)
    duration = clip_end - clip_start
    offsets = people.sample_offsets(duration, (start_s + end_s) / 2 - clip_start)
    return [(t, scene.render(round((clip_start + t) * cfg.fps))) for t in offsets]


SWEEP = (-0.25, 0.25, 0.5, 0.75)


def _best_scores(
    conditions: tuple[Condition, ...], kind: str, seeds: tuple[int, ...]
) -> tuple[dict[str, list[float]], float, float, int]:
    """Per condition, the best window score of each event (-1 when no window reached -1), the
    scenes' hours, the CPU seconds and the frames analysed."""
    # The lowest threshold of the sweep lets every decision be made from one pass.
    config = people.PeopleConfig(threshold=-1.0)
    scores: dict[str, list[float]] = {}
    hours = cpu = 0.0
    frames = 0
    for cond in conditions:
        scores[cond.name] = []
        for seed in seeds:
            scene = Scene(cond.make(seed))
            hours += scene.config.seconds / 3600
            for item in scene.truth()[kind]:
                images = _event_frames(scene, item["start_s"], item["end_s"])
                t0 = time.process_time()
                proposal = people.propose_images(images, config)
                cpu += time.process_time() - t0
                frames += len(images)
                scores[cond.name].append(proposal.score if proposal.proposed else -1.0)
    return scores, hours, cpu, frames


def measure() -> dict[str, float]:
    """Recall on walker scenes and false flags per hour on animal-only scenes at the default
    threshold (with per-condition figures and a threshold sweep), the CPU per analysed frame
    and the load average."""
    threshold = people.PeopleConfig().threshold
    walkers, _, cpu_w, frames_w = _best_scores(WALKER_CONDITIONS, "people", SEEDS)
    animals, hours, cpu_a, frames_a = _best_scores(ANIMAL_CONDITIONS, "animals", SEEDS[:2])
    every_walker = [s for v in walkers.values() for s in v]
    every_animal = [s for v in animals.values() for s in v]
    out: dict[str, float] = {}
    for name, values in walkers.items():
        out[f"person_recall_{name}"] = round(sum(s > threshold for s in values) / len(values), 3)
    for name, values in animals.items():
        out[f"person_false_flags_{name}"] = float(sum(s > threshold for s in values))
    for t in SWEEP:
        key = f"{t:+.2f}".replace("+", "p").replace("-", "m").replace(".", "_")
        out[f"person_recall_at_{key}"] = round(sum(s > t for s in every_walker) / len(every_walker), 3)
        out[f"person_false_flags_per_hour_at_{key}"] = round(sum(s > t for s in every_animal) / hours, 2)
    flags = sum(s > threshold for s in every_animal)
    out |= {
        "person_recall": round(sum(s > threshold for s in every_walker) / len(every_walker), 3),
        "person_false_flags_per_hour": round(flags / hours, 2),
        "person_walker_events": float(len(every_walker)),
        "person_animal_events": float(len(every_animal)),
        "person_false_flag_share": round(flags / len(every_animal), 3),
        "person_animal_hours": round(hours, 3),
        "person_cpu_s_per_frame": round((cpu_w + cpu_a) / (frames_w + frames_a), 3),
        "person_threshold": threshold,
        "person_width_px": float(people.PeopleConfig().width),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    return out


if __name__ == "__main__":
    print(json.dumps(measure(), sort_keys=True))
