"""`bench/motion.py --quick`: the tuning loop of bench-motion, minutes instead of 40.

Scores our detectors on cached family clips only (no Debian `motion`, no 30-min clip, no doc),
the (detector, clip) scans in parallel processes, with an optional MotionConfig override, and
explains every missed or late animal: on the frames it was in view, how many of its pixels
passed the threshold, how many were left after the weather and flicker filters, whether a box
covered it and for how many frames in a row, and what the detector's state was (night profile,
weather mode, a guard's settle time). Families default to the tuning ones: defaults are chosen
on those, never on the held-out ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camera.config import EventConfig, MotionConfig
from camera.detect.registry import make_detector
from camera.events import EventEnded, EventStarted, EventTracker
from camera.scan import decode_frames
from simulators.webcam.truth import animal_condition, condition_at

Event = tuple[float, float, float]


@dataclass(frozen=True)
class Job:
    """One detector on one clip."""

    family: str
    detector: str
    clip: Path
    truth: dict[str, Any]
    overrides: dict[str, Any]


def _truth_box(animal: dict[str, Any], t: float) -> list[float] | None:
    """The animal's normalised [x, y, w, h] at t (None before it shows)."""
    best = None
    for row in animal["boxes"]:
        if row[0] <= t + 1e-6:
            best = row[1:]
    return best


def _px_in(mask: np.ndarray | None, box: list[float]) -> int:
    """Non-zero pixels of a detection-size mask inside a normalised box."""
    if mask is None:
        return 0
    h, w = mask.shape[:2]
    x0, y0 = max(0, int(box[0] * w)), max(0, int(box[1] * h))
    x1, y1 = min(w, int((box[0] + box[2]) * w) + 1), min(h, int((box[1] + box[3]) * h) + 1)
    return int(np.count_nonzero(mask[y0:y1, x0:x1])) if x1 > x0 and y1 > y0 else 0


def _overlaps(b: Any, tb: list[float]) -> bool:
    return bool(b.x < tb[0] + tb[2] and tb[0] < b.x + b.w and b.y < tb[1] + tb[3] and tb[1] < b.y + b.h)


def run_job(job: Job) -> dict[str, Any]:
    """Scan one clip frame by frame, keeping per-frame facts on the truth's animals."""
    cfg = MotionConfig.model_validate({**job.overrides, "detector": job.detector})
    det = make_detector(cfg)
    pipe = getattr(det, "_pipe", None)
    tracker = EventTracker(EventConfig())
    animals = job.truth["animals"]
    # Per animal, per frame in view: (t, raw px, kept px, box on it, motion, state).
    facts: dict[int, list[tuple[float, int, int, bool, bool, str]]] = {i: [] for i in range(len(animals))}
    events: list[Event] = []
    doubts: list[tuple[float, str | None]] = []  # each event's (confidence, doubt guard)
    firsts: dict[int, float] = {}
    cpu = 0.0
    last_ts = 0.0
    origin: float | None = None
    for ts, img in decode_frames(job.clip, cfg.detection_height):
        origin = ts if origin is None else origin
        t = ts - origin
        last_ts = ts
        c0 = time.process_time()
        r = det.process(img, ts)
        cpu += time.process_time() - c0
        for ev in tracker.update(ts, r):
            if isinstance(ev, EventStarted):
                firsts[ev.event_no] = ev.first_motion_ts - origin
            elif isinstance(ev, EventEnded):
                first = firsts.get(ev.event_no, ev.start_ts - origin)
                events.append((ev.start_ts - origin, ev.end_ts - origin, first))
                doubts.append((ev.confidence, ev.doubt_guard))
        for i, a in enumerate(animals):
            if not a["start_s"] <= t <= a["end_s"]:
                continue
            tb = _truth_box(a, t)
            if tb is None:
                continue
            raw = _px_in(getattr(pipe, "last_raw", None), tb)
            kept = _px_in(getattr(pipe, "kept", None), tb)
            state = ""
            if pipe is not None:
                state = ("N" if pipe.night else "D") + ("W" if pipe.weather_left > 0 else "") + (
                    "S" if pipe.settle > 0 else ""
                ) + ("R" if r.recalibrating else "")
            facts[i].append((t, raw, kept, any(_overlaps(b, tb) for b in r.boxes), r.motion, state))
    for ev in tracker.flush(last_ts):
        o = origin or 0.0
        events.append((ev.start_ts - o, ev.end_ts - o, firsts.get(ev.event_no, ev.start_ts - o)))
        doubts.append((ev.confidence, ev.doubt_guard))
    seconds = float(job.truth["seconds"])
    min_px = 0
    if pipe is not None and pipe.size is not None:
        w, h = pipe.size
        min_px = round(cfg.day.min_area * w * h)
    return {
        "family": job.family,
        "detector": job.detector,
        "events": events,
        "doubts": doubts,
        "cpu_s_per_video_min": round(cpu * 60 / seconds, 2),
        "misses": _explain(job.truth, events, facts, min_px),
    }


def _explain(
    truth: dict[str, Any],
    events: list[Event],
    facts: dict[int, list[tuple[float, int, int, bool, bool, str]]],
    min_px: int,
) -> list[str]:
    """One line per missed (or more than 2 s late) animal, saying what the detector saw of it."""
    out = []
    for i, a in enumerate(truth["animals"]):
        hit = [e for e in events if e[0] <= a["end_s"] and e[1] >= a["start_s"]]
        late = max(0.0, hit[0][2] - a["start_s"]) if hit else None
        if hit and late is not None and late <= 2.0:
            continue
        rows = facts[i]
        run = best = 0
        for r in rows:
            run = run + 1 if r[3] else 0
            best = max(best, run)
        raw = max((r[1] for r in rows), default=0)
        kept = max((r[2] for r in rows), default=0)
        states = sorted({r[5] for r in rows})
        p = a.get("planted") or {}
        tag = "MISSED" if not hit else f"late {late:.1f} s"
        out.append(
            f"{tag} {a['species']} t={a['start_s']:.1f}-{a['end_s']:.1f} [{animal_condition(truth, a)}] "
            f"planted {p.get('after')}+{p.get('delay_s')} depth {p.get('depth')} camo {p.get('camouflage')}: "
            f"{len(rows)} frames, max raw px {raw}, max kept px {kept} (min {min_px}), "
            f"frames boxed {sum(1 for r in rows if r[3])}, longest boxed run {best}, "
            f"motion frames {sum(1 for r in rows if r[4])}, states {states}"
        )
    return out


def quick(
    clips: list[tuple[str, Path, dict[str, Any]]],
    detectors: list[str],
    overrides: dict[str, Any],
    workers: int,
    new_tally: Callable[[], Any],
) -> dict[str, Any]:
    """Score the detectors on the clips in `workers` processes; print misses; return figures.

    `new_tally` makes bench.motion's FamilyTally (passed in: bench.motion imports this module)."""
    jobs = [Job(f, d, c, t, overrides) for d in detectors for f, c, t in clips]
    truths = {f: t for f, _c, t in clips}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run_job, jobs))
    out: dict[str, Any] = {}
    for d in detectors:
        tally = new_tally()
        for r in results:
            if r["detector"] != d:
                continue
            minutes = float(truths[r["family"]]["seconds"]) / 60
            tally.add(truths[r["family"]], r["events"], r["cpu_s_per_video_min"] * minutes, 0)
            for line in r["misses"]:
                print(f"{d} {r['family']}: {line}")
            for (s_, e_, first), (conf, guard) in zip(r["events"], r["doubts"], strict=True):
                t = truths[r["family"]]
                if not any(s_ <= a["end_s"] and e_ >= a["start_s"] for a in t["animals"]):
                    where = condition_at(t, first)
                    print(
                        f"{d} {r['family']}: FALSE {s_:.1f}-{e_:.1f} first {first:.1f} [{where}] "
                        f"confidence {conf} guard {guard}"
                    )
        row = tally.row()
        out[d] = {
            k: row[k]
            for k in (
                "recall",
                "recall_by_condition",
                "false_events_per_hour",
                "false_events_per_hour_by_condition",
                "deaf_period_max_s",
                "fraction_of_time_in_events",
                "ideal_fraction_of_time_in_events",
                "cpu_s_per_video_min",
                "events",
                "animals",
            )
        }
        print(json.dumps({d: out[d]}))
    return out
