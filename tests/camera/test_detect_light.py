"""Light and contrast that change over part of the frame (frigate_like): learnt, not taken for animals."""

from __future__ import annotations

import numpy as np

from camera.config import MotionConfig
from camera.detect.base import MotionResult
from camera.detect.registry import make_detector

W, H = 320, 180
# Six patches, each in a different part of the frame, brightened at once: a fog bank shifting
# or the sun coming out over a fifth of the frame, in no single part an animal could fill.
PATCHES = [(20, 20), (150, 30), (270, 20), (40, 120), (160, 130), (260, 120)]
SIDE = 24  # under the 5x5 blocks of the light correction's median, which would see it as light
STEP_AT = 30  # frames


def _ground(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = rng.integers(60, 140, (H // 4, W // 4, 3), dtype=np.uint8)
    return np.asarray(np.repeat(np.repeat(tex, 4, axis=0), 4, axis=1))


def _frames(step: bool, animal: bool, n: int = 50) -> list[np.ndarray]:
    base = _ground()
    rng = np.random.default_rng(9)
    out = []
    for i in range(n):
        f = base.astype(np.int16) + rng.integers(-2, 3, base.shape, dtype=np.int16)
        if step and i >= STEP_AT:
            for x, y in PATCHES:
                f[y : y + SIDE, x : x + SIDE] += 45
        if animal and i >= STEP_AT:
            x = 90 + 3 * (i - STEP_AT)  # comes in as the light steps, walking right
            f[80:92, x : x + 18] = 25
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def _run(frames: list[np.ndarray], config: MotionConfig) -> list[MotionResult]:
    det = make_detector(config)
    return [det.process(f, i / 5) for i, f in enumerate(frames)]


def test_a_light_step_over_part_of_the_frame_is_learnt_at_once() -> None:
    results = _run(_frames(step=True, animal=False), MotionConfig())
    assert not any(r.motion for r in results), [i for i, r in enumerate(results) if r.motion]


def test_without_the_light_step_rule_it_was_an_event() -> None:
    # The same footage with the rule off: the patches persist until the background catches up.
    results = _run(_frames(step=True, animal=False), MotionConfig(light_step_parts=0))
    assert any(r.motion and r.confidence == 1.0 for r in results)


def test_an_animal_coming_in_with_the_light_step_is_still_caught_at_once() -> None:
    results = _run(_frames(step=True, animal=True), MotionConfig())
    first = next(i for i, r in enumerate(results) if r.motion)
    # Seen as soon as the persistence rule allows after its first frame (3 frames) plus one:
    # the frame the step was learnt in also learnt the animal where it stood.
    assert first <= STEP_AT + 4, first
    assert results[first].confidence == 1.0


def _fog_frames(n: int = 160, animal: bool = True) -> list[np.ndarray]:
    # Fine texture veiled by fog: blended towards grey 185, a from 0 to 0.6 over 20 s (slow,
    # so the background follows), then an animal darker than the ground walks in. Before the
    # fog it stood 30 grey levels below the ground; in the fog, 12 (under the threshold, 16).
    base = _ground().astype(np.float32)
    rng = np.random.default_rng(4)
    out = []
    for i in range(n):
        f = base.copy()
        if animal and i >= 130:
            x = 60 + 3 * (i - 130)
            f[80:92, x : x + 20] -= 30.0
        a = min(0.6, 0.6 * i / 100)
        f = f + (185.0 - f) * a + rng.integers(-2, 3, f.shape).astype(np.float32)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return out


def test_contrast_floor_lowers_the_threshold_in_fog() -> None:
    frames = _fog_frames()
    adaptive = _run(frames, MotionConfig(contrast_floor=0.5))
    fixed = _run(frames, MotionConfig(contrast_floor=1.0))
    assert any(r.motion for r in adaptive[130:]), "the animal in the fog is missed"
    assert not any(r.motion for r in fixed[130:]), "with a fixed threshold it was missed before"


def test_fog_alone_makes_no_motion_with_the_contrast_floor() -> None:
    results = _run(_fog_frames(animal=False), MotionConfig(contrast_floor=0.5))
    assert not any(r.motion for r in results[20:])
