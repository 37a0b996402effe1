"""Scores detected events against the simulator's ground truth."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scored:
    """How a list of events compares with the truth."""

    animals: int
    caught: int
    false_events: int
    events: int
    onset_delays_s: tuple[float, ...]
    seconds: float
    time_in_events_s: float
    ideal_time_s: float

    @property
    def recall(self) -> float:
        """Fraction of animals that fall inside at least one event."""
        return self.caught / self.animals if self.animals else 1.0

    @property
    def false_events_per_hour(self) -> float:
        """Events that overlap no animal, per hour of footage."""
        return self.false_events * 3600 / self.seconds if self.seconds else 0.0

    @property
    def onset_delay_median_s(self) -> float | None:
        """Median delay between an animal appearing and its event's first motion."""
        return statistics.median(self.onset_delays_s) if self.onset_delays_s else None

    @property
    def fraction_in_events(self) -> float:
        """Share of the footage that falls inside events."""
        return self.time_in_events_s / self.seconds if self.seconds else 0.0

    @property
    def ideal_fraction(self) -> float:
        """Share of the footage an ideal detector would keep (animals plus pre/post-roll)."""
        return self.ideal_time_s / self.seconds if self.seconds else 0.0


def _union(intervals: Sequence[tuple[float, float]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total


def score(
    truth: dict[str, Any],
    events: Sequence[tuple[float, float, float]],
    pre_roll_s: float = 5.0,
    post_roll_s: float = 5.0,
) -> Scored:
    """Compare events (start_s, end_s, first_motion_s) with the truth's animals.

    An animal is caught when an event overlaps its visible interval; the onset delay is the
    first motion inside the event (clamped at 0) minus the animal's appearance.
    """
    seconds = float(truth["seconds"])
    animals = truth["animals"]
    caught = 0
    delays: list[float] = []
    used = [False] * len(events)
    for a in animals:
        hit = False
        for i, (s, e, first) in enumerate(events):
            if s <= a["end_s"] and e >= a["start_s"]:
                used[i] = True
                if not hit:
                    delays.append(max(0.0, max(first, a["start_s"]) - a["start_s"]))
                hit = True
        caught += hit
    ideal = _union(
        [(max(0.0, a["start_s"] - pre_roll_s), min(seconds, a["end_s"] + post_roll_s)) for a in animals]
    )
    return Scored(
        animals=len(animals),
        caught=caught,
        false_events=used.count(False),
        events=len(events),
        onset_delays_s=tuple(delays),
        seconds=seconds,
        time_in_events_s=_union([(s, e) for s, e, _ in events]),
        ideal_time_s=ideal,
    )


# -- per condition ---------------------------------------------------------------------------

# The conditions the bench splits its figures by.
CONDITIONS = ("dry_day", "rain", "after_rain", "ir_switch", "night")
# "After rain": this long after the last precipitation stopped.
AFTER_RAIN_S = 120.0
# An animal in view at some point from the IR switch to this many seconds after it was seen
# "at the IR switch" (and a false event starting then is the switch's).
IR_WINDOW_S = 5.0
# Episode kinds that wet the picture (simulators/webcam/weather.py PRECIPITATION; repeated
# here so that scoring needs only the truth JSON).
_WET_KINDS = frozenset({"streaks", "lens_drops", "drizzle", "snow"})


def wet_intervals(truth: dict[str, Any]) -> list[tuple[float, float]]:
    """When rain (of any kind) or snow falls, from the truth JSON."""
    out = []
    if truth.get("rain"):
        out.append((float(truth["rain"][0]), float(truth["rain"][1])))
    for ep in truth.get("episodes", []):
        if ep["kind"] in _WET_KINDS:
            out.append((float(ep["start_s"]), float(ep["end_s"])))
    return out


def _night(truth: dict[str, Any], t: float) -> bool:
    n, d = truth.get("night_at_s"), truth.get("dawn_at_s")
    return n is not None and t >= n and (d is None or d <= n or t < d)


def _switches(truth: dict[str, Any]) -> list[float]:
    out = []
    if truth.get("night_at_s") is not None:
        out.append(float(truth["night_at_s"]))
        d = truth.get("dawn_at_s")
        if d is not None and d > truth["night_at_s"]:
            out.append(float(d))
    return out


def condition_at(truth: dict[str, Any], t: float) -> str:
    """The condition (one of CONDITIONS) the scene is in at t."""
    if any(sw <= t <= sw + IR_WINDOW_S for sw in _switches(truth)):
        return "ir_switch"
    if _night(truth, t):
        return "night"
    wet = wet_intervals(truth)
    if any(s <= t < e for s, e in wet):
        return "rain"
    if any(e <= t < e + AFTER_RAIN_S for _, e in wet):
        return "after_rain"
    return "dry_day"


def animal_condition(truth: dict[str, Any], a: dict[str, Any]) -> str:
    """The condition an animal is filed under: the IR switch if it was in view during the
    switch window, else the condition when it appeared (rain if rain fell while in view)."""
    s, e = float(a["start_s"]), float(a["end_s"])
    if any(s <= sw + IR_WINDOW_S and e >= sw for sw in _switches(truth)):
        return "ir_switch"
    if _night(truth, s):
        return "night"
    wet = wet_intervals(truth)
    if any(ws <= e and we > s for ws, we in wet):
        return "rain"
    if any(we <= s < we + AFTER_RAIN_S for _, we in wet):
        return "after_rain"
    return "dry_day"


@dataclass
class ConditionTally:
    """Animals, catches, false events and time for one condition (summed over clips)."""

    animals: int = 0
    caught: int = 0
    false_events: int = 0
    seconds: float = 0.0
    onsets: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The bench's figures for this condition."""
        return {
            "animals": self.animals,
            "caught": self.caught,
            "recall": round(self.caught / self.animals, 3) if self.animals else None,
            "false_events": self.false_events,
            "hours": round(self.seconds / 3600, 3),
            "false_events_per_hour": (
                round(self.false_events * 3600 / self.seconds, 2) if self.seconds else None
            ),
            "onset_delay_median_s": round(statistics.median(self.onsets), 2) if self.onsets else None,
        }


def tally_conditions(
    truth: dict[str, Any],
    events: Sequence[tuple[float, float, float]],
    into: dict[str, ConditionTally] | None = None,
) -> dict[str, ConditionTally]:
    """Add one clip's animals, catches, onsets, false events and seconds, per condition."""
    out = into if into is not None else {c: ConditionTally() for c in CONDITIONS}
    used = [False] * len(events)
    for a in truth["animals"]:
        c = out[animal_condition(truth, a)]
        c.animals += 1
        first = _first_catch(a, events, used)
        if first is not None:
            c.caught += 1
            c.onsets.append(max(0.0, first - float(a["start_s"])))
    for i, (_, _, first_motion) in enumerate(events):
        if not used[i]:
            out[condition_at(truth, first_motion)].false_events += 1
    seconds = float(truth["seconds"])
    t = 0.0
    while t < seconds:  # time per condition, in 1 s steps
        out[condition_at(truth, t + 0.5)].seconds += min(1.0, seconds - t)
        t += 1.0
    return out


def _first_catch(
    a: dict[str, Any], events: Sequence[tuple[float, float, float]], used: list[bool]
) -> float | None:
    first: float | None = None
    for i, (s, e, fm) in enumerate(events):
        if s <= a["end_s"] and e >= a["start_s"]:
            used[i] = True
            if first is None:
                first = max(fm, float(a["start_s"]))
    return first


def planted_outcomes(
    truth: dict[str, Any], events: Sequence[tuple[float, float, float]]
) -> list[dict[str, Any]]:
    """Per planted animal: the change it probes, its delay, caught or not, detection delay."""
    out = []
    used = [False] * len(events)
    for a in truth["animals"]:
        p = a.get("planted")
        if not p or p.get("delay_s") is None:
            continue
        first = _first_catch(a, events, used)
        out.append(
            {
                "after": p["after"],
                "delay_s": p["delay_s"],
                "caught": first is not None,
                "onset_s": round(first - float(a["start_s"]), 2) if first is not None else None,
                "species": a["species"],
                "camouflage": p.get("camouflage", 0.0),
                "depth": p.get("depth"),
                "start_s": a["start_s"],
            }
        )
    return out


def deaf_period_max_s(outcomes: Sequence[dict[str, Any]]) -> float:
    """The longest delay after a change at which a planted animal was missed (0: none missed).

    Animals planted while the switch happens (negative delays) count as a delay of 0."""
    missed = [max(0.0, float(o["delay_s"])) for o in outcomes if not o["caught"]]
    return max(missed, default=0.0)
