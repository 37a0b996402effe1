"""Why a detector misses animals or fires for nothing, on a generated clip with ground truth.

Renders (and caches) a bench-like clip, runs `camera.scan`'s decoding, a detector and the event
logic over it, then lists every missed animal and every false event with what the scene was
doing at the time (rain, IR night, wind gust, insects, vegetation, size, depth).

    .venv/bin/python bench/motion_diagnose.py --minutes 10 --seed 3 --habitat wetland
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.motion import ensure_rendered
from camera.config import EventConfig, MotionConfig
from camera.detect.base import Box, MotionResult
from camera.detect.registry import DETECTORS, make_detector
from camera.events import EventEnded, EventStarted, EventTracker
from camera.scan import decode_frames
from simulators.webcam.cli import scenario
from simulators.webcam.scene import Scene
from simulators.webcam.truth import score

CACHE = Path(os.environ.get("VIGIE_DIAG_CACHE", Path(tempfile.gettempdir()) / "vigie-diagnose"))


def clip_frames(
    minutes: float, wind: str, seed: int, habitat: str, height: int
) -> tuple[np.ndarray, dict[str, Any], Scene]:
    """Detection-size frames of the bench-like clip (rendered, encoded and decoded once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = CACHE / f"clip-{minutes:g}min-{wind}-{seed}-{habitat}"
    clip, truth_path, frames_path = (
        stem.with_suffix(".mp4"),
        stem.with_suffix(".json"),
        Path(f"{stem}-{height}.npy"),
    )
    cfg = scenario(minutes, 5, 1280, 720, wind, seed, habitat, True, 0.6)  # type: ignore[arg-type]
    scene = Scene(cfg)
    ensure_rendered(scene, clip, truth_path)
    if not frames_path.exists():
        imgs = [img for _, img in decode_frames(clip, height)]
        np.save(frames_path, np.stack(imgs))
    return np.load(frames_path, mmap_mode="r"), json.loads(truth_path.read_text()), scene


def _overlap(a: Box, b: list[float]) -> bool:
    return a.x < b[0] + b[2] and b[0] < a.x + a.w and a.y < b[1] + b[3] and b[1] < a.y + a.h


def _truth_box(animal: dict[str, Any], t: float) -> list[float] | None:
    best = None
    for row in animal["boxes"]:
        if row[0] <= t + 1e-6:
            best = row[1:]
    return best


def run(
    frames: np.ndarray, config: MotionConfig, events_cfg: EventConfig
) -> tuple[list[MotionResult], list[tuple[float, float, float]], float]:
    """Per-frame results, events (start, end, first motion) and detection CPU seconds."""
    det = make_detector(config)
    tracker = EventTracker(events_cfg)
    results: list[MotionResult] = []
    events: list[tuple[float, float, float]] = []
    firsts: dict[int, float] = {}
    cpu = 0.0
    for i in range(len(frames)):
        ts = i / 5.0
        img = np.ascontiguousarray(frames[i])
        t0 = time.process_time()
        r = det.process(img, ts)
        cpu += time.process_time() - t0
        results.append(r)
        for ev in tracker.update(ts, r):
            if isinstance(ev, EventStarted):
                firsts[ev.event_no] = ev.first_motion_ts
            elif isinstance(ev, EventEnded):
                events.append((ev.start_ts, ev.end_ts, firsts.get(ev.event_no, ev.start_ts)))
    for ev in tracker.flush(len(frames) / 5.0):
        events.append((ev.start_ts, ev.end_ts, firsts.get(ev.event_no, ev.start_ts)))
    return results, events, cpu


def conditions(scene: Scene, t: float) -> str:
    """What the scene is doing at t."""
    bits = []
    if scene.raining(t):
        bits.append("rain")
    bits.append("night" if scene.is_night(t) else "day")
    bits.append(f"gust {scene.gust(t):.2f}")
    flying = [i for i in scene.insects if i.start_s - 1 <= t <= i.start_s + i.duration_s + 2]
    if flying:
        bits.append(f"insects {len(flying)}")
    if scene.config.night_at_s is not None and abs(t - scene.config.night_at_s) < 10:
        bits.append("IR switch")
    return ", ".join(bits)


def report(
    name: str,
    results: list[MotionResult],
    events: list[tuple[float, float, float]],
    truth: dict[str, Any],
    scene: Scene,
    verbose: bool,
) -> dict[str, Any]:
    """Print missed animals and false events; return the headline figures."""
    s = score(truth, events)
    out = {
        "detector": name,
        "recall": round(s.recall, 3),
        "animals": s.animals,
        "false_events": s.false_events,
        "false_per_h": round(s.false_events_per_hour, 1),
        "onset_median_s": None if s.onset_delay_median_s is None else round(s.onset_delay_median_s, 2),
        "fraction": round(s.fraction_in_events, 3),
        "ideal": round(s.ideal_fraction, 3),
        "events": s.events,
    }
    if not verbose:
        return out
    for a in truth["animals"]:
        hit = [e for e in events if e[0] <= a["end_s"] and e[1] >= a["start_s"]]
        mid = a["boxes"][len(a["boxes"]) // 2]
        f0, f1 = round(a["start_s"] * 5), round(a["end_s"] * 5)
        on_box = sum(
            1
            for i in range(f0, min(f1 + 1, len(results)))
            if (tb := _truth_box(a, i / 5)) is not None and any(_overlap(b, tb) for b in results[i].boxes)
        )
        delay = None
        if hit:
            delay = max(0.0, max(hit[0][2], a["start_s"]) - a["start_s"])
        if hit and delay is not None and delay <= 1.0:
            continue
        tag = "MISSED" if not hit else f"late {delay:.1f}s"
        print(
            f"  {tag}: #{a['id']} {a['species']} {a['start_s']:.0f}-{a['end_s']:.0f}s "
            f"behind={a['behind_vegetation']} box(mid)={[round(v, 3) for v in mid[1:]]} "
            f"frames with a box on it {on_box}/{f1 - f0 + 1} [{conditions(scene, a['start_s'])}]"
        )
    for s_, e_, first in events:
        if any(s_ <= a["end_s"] and e_ >= a["start_s"] for a in truth["animals"]):
            # A true event that runs far past its animals (wind keeps it open) is review burden.
            spans = [(a["start_s"] - 5, a["end_s"] + 5) for a in truth["animals"]]
            extra = [
                t / 5
                for t in range(round(s_ * 5), round(e_ * 5))
                if not any(a <= t / 5 <= b for a, b in spans)
            ]
            if len(extra) > 50:
                mid = round(extra[len(extra) // 2] * 5)
                boxes = [b for r in results[mid - 10 : mid + 10] for b in r.boxes]
                big = sorted(boxes, key=lambda b: -b.w * b.h)[:3]
                print(
                    f"  LONG: {s_:.0f}-{e_:.0f}s, {len(extra) / 5:.0f} s beyond its animals, e.g. at "
                    f"{extra[len(extra) // 2]:.0f}s boxes {[b.as_list() for b in big]} "
                    f"[{conditions(scene, extra[len(extra) // 2])}]"
                )
            continue
        i0 = round(first * 5)
        boxes = [b for r in results[i0 : i0 + 5] for b in r.boxes]
        big = sorted(boxes, key=lambda b: -b.w * b.h)[:3]
        print(
            f"  FALSE: {s_:.0f}-{e_:.0f}s first motion {first:.1f}s "
            f"boxes {[b.as_list() for b in big]} [{conditions(scene, first)}]"
        )
    return out


def main() -> None:
    """Diagnose one or both detectors on one clip."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--wind", default="breeze", choices=["calm", "breeze", "strong"])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--habitat", default="forest", choices=["forest", "wetland"])
    ap.add_argument("--detector", action="append", choices=sorted(DETECTORS))
    ap.add_argument("--config", default="{}", help="MotionConfig overrides as JSON")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    base = MotionConfig.model_validate(json.loads(args.config))
    frames, truth, scene = clip_frames(
        args.minutes, args.wind, args.seed, args.habitat, base.detection_height
    )
    for name in args.detector or sorted(DETECTORS):
        cfg = base.model_copy(update={"detector": name})
        if not args.quiet:
            print(f"== {name} seed {args.seed} {args.habitat} {args.wind} {args.minutes:g} min")
        results, events, cpu = run(frames, cfg, EventConfig())
        out = report(name, results, events, truth, scene, not args.quiet)
        out.update(
            seed=args.seed,
            habitat=args.habitat,
            wind=args.wind,
            detect_ms=round(cpu * 1000 / len(frames), 2),
        )
        print(json.dumps(out))


if __name__ == "__main__":
    main()
