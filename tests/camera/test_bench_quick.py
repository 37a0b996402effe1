"""bench/motion.py --quick: the tuning loop scores clips and explains each miss from what it saw."""

from __future__ import annotations

import json
from pathlib import Path

from bench.motion import FamilyTally
from bench.motion_quick import Job, quick, run_job
from simulators.webcam.animals import Planted
from simulators.webcam.scene import Scene, SceneConfig
from simulators.webcam.writer import write_video


def _clip(tmp_path: Path, camouflage: float, name: str) -> tuple[Path, dict[str, object]]:
    cfg = SceneConfig(
        seconds=12.0,
        fps=5.0,
        width=320,
        height=180,
        wind="calm",
        seed=4,
        planted=(
            Planted("roe_deer", 5.0, depth=0.7, camouflage=camouflage, reach=160.0, after="x", delay_s=1.0),
        ),
        random_animals=False,
        insects_per_hour=0.0,
    )
    clip, truth = tmp_path / f"{name}.mp4", tmp_path / f"{name}.json"
    write_video(Scene(cfg), clip, truth)
    return clip, json.loads(truth.read_text())


def test_a_visible_deer_is_caught_and_not_listed_as_missed(tmp_path: Path) -> None:
    clip, truth = _clip(tmp_path, 0.0, "deer")
    out = run_job(Job("t", "frigate_like", clip, truth, {}))
    assert out["misses"] == []
    animal = truth["animals"][0]  # type: ignore[index]
    assert any(s <= animal["end_s"] and e >= animal["start_s"] for s, e, _f in out["events"])
    assert out["cpu_s_per_video_min"] > 0


def test_a_miss_says_how_much_of_the_animal_the_detector_saw(tmp_path: Path) -> None:
    clip, truth = _clip(tmp_path, 0.0, "deer")
    # A threshold no animal reaches: the deer is missed, and the line says no pixel passed.
    out = run_job(Job("t", "frigate_like", clip, truth, {"day": {"threshold": 254}}))
    assert len(out["misses"]) == 1
    line = out["misses"][0]
    assert line.startswith("MISSED roe_deer")
    assert "max kept px 0" in line and "frames boxed 0" in line


def test_quick_tallies_the_figures_of_every_detector(tmp_path: Path) -> None:
    clip, truth = _clip(tmp_path, 0.0, "deer")
    out = quick([("t", clip, truth)], ["frigate_like", "mog2"], {}, 2, FamilyTally)
    assert set(out) == {"frigate_like", "mog2"}
    assert out["frigate_like"]["animals"] == 1
    assert out["frigate_like"]["recall"] == 1.0
