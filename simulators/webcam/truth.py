"""Scores detected events against the simulator's ground truth."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
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
