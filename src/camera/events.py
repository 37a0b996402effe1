"""Turns per-frame motion into events: pre-roll, post-roll, gap merging and clip splitting.

Pure logic without I/O, driven by (ts, MotionResult), so that the worker and `vigie camera scan`
share it and tests drive it with synthetic results.
"""

from __future__ import annotations

from dataclasses import dataclass

from camera.config import EventConfig
from camera.detect.base import Box, MotionResult

# Boxes kept per event part; beyond this the list is thinned so memory stays bounded.
MAX_BOXES = 1000


@dataclass(frozen=True)
class EventStarted:
    """An event (or a linked part of a long one) begins; start_ts already includes the pre-roll."""

    event_no: int
    start_ts: float  # first motion ts - pre_roll, clamped to the stream start and previous end
    part: int  # 1 for a new event, 2.. for the continuation of a long one
    previous_event_no: int | None  # the part this one continues, None for part 1
    first_motion_ts: float = 0.0


@dataclass(frozen=True)
class EventEnded:
    """An event part ends; end_ts is last motion + post-roll (or the split point).

    It is emitted once the gap has passed without motion, so end_ts can be earlier than the ts
    of the update that emitted it: a clip writer trims its tail to end_ts.
    """

    event_no: int
    start_ts: float
    end_ts: float
    peak_score: float
    peak_ts: float
    boxes: tuple[tuple[float, Box], ...]
    part: int = 1
    previous_event_no: int | None = None
    # 1 when some of its motion was sure; lower when only motion a weather or light guard
    # doubted made it (see camera.detect.common.GUARDS), with that guard named.
    confidence: float = 1.0
    doubt_guard: str | None = None


@dataclass
class _Open:
    event_no: int
    start_ts: float
    part: int
    previous_event_no: int | None
    last_motion_ts: float
    peak_score: float = 0.0
    peak_ts: float = 0.0
    boxes: list[tuple[float, Box]] | None = None
    confidence: float = 0.0
    doubts: dict[str, int] | None = None


class EventTracker:
    """Feeds on (ts, MotionResult) pairs and emits EventStarted / EventEnded."""

    def __init__(self, config: EventConfig, first_event_no: int = 1) -> None:
        self._cfg = config
        self._next_no = first_event_no
        self._open: _Open | None = None
        self._first_ts: float | None = None
        self._last_ts: float | None = None
        self._last_end_ts: float | None = None

    @property
    def active(self) -> bool:
        """True while an event is open."""
        return self._open is not None

    def update(self, ts: float, result: MotionResult) -> list[EventStarted | EventEnded]:
        """Advance to ts with this frame's result; return the events this causes, in order."""
        # A stream whose clock steps back (camera reboot) must not make events end before they
        # start: time never runs backwards for the tracker.
        if self._last_ts is not None and ts < self._last_ts:
            ts = self._last_ts
        if self._first_ts is None:
            self._first_ts = ts
        self._last_ts = ts
        out: list[EventStarted | EventEnded] = []
        ev = self._open
        if ev is not None and not result.motion:
            quiet = ts - ev.last_motion_ts
            if quiet > max(self._cfg.gap_s, self._cfg.post_roll_s):
                out.append(self._close(ev, ev.last_motion_ts + self._cfg.post_roll_s))
                ev = None
        if ev is not None and ts - ev.start_ts >= self._cfg.max_clip_s:
            tail_end = ev.last_motion_ts + self._cfg.post_roll_s
            if tail_end <= ts:
                # Only the quiet tail is left: end here. A new part would begin after its own
                # end (a clip of negative length); motion that comes back opens a new event.
                out.append(self._close(ev, tail_end))
                ev = None
            else:
                out.append(self._close(ev, ts))
                ev = self._begin(ts, ts, part=ev.part + 1, previous=ev.event_no, last=ev.last_motion_ts)
                out.append(self._started(ev, ts))
        if result.motion:
            if ev is None:
                floor = self._first_ts
                if self._last_end_ts is not None:
                    floor = max(floor, self._last_end_ts)
                start = max(ts - self._cfg.pre_roll_s, floor)
                ev = self._begin(start, ts, part=1, previous=None, last=ts)
                out.append(self._started(ev, ts))
            ev.last_motion_ts = ts
            ev.confidence = max(ev.confidence, result.confidence)
            if result.guard is not None and result.confidence < 1.0:
                assert ev.doubts is not None
                ev.doubts[result.guard] = ev.doubts.get(result.guard, 0) + 1
            if result.score > ev.peak_score or ev.peak_score == 0.0:
                ev.peak_score = result.score
                ev.peak_ts = ts
            assert ev.boxes is not None
            ev.boxes.extend((ts, b) for b in result.boxes)
            if len(ev.boxes) > MAX_BOXES:
                ev.boxes[:] = ev.boxes[::2]
        return out

    def flush(self, ts: float) -> list[EventEnded]:
        """Close the open event at end of stream or shutdown."""
        ev = self._open
        if ev is None:
            return []
        end = min(max(ts, ev.start_ts), ev.last_motion_ts + self._cfg.post_roll_s)
        return [self._close(ev, max(end, ev.start_ts))]

    def _begin(self, start: float, ts: float, *, part: int, previous: int | None, last: float) -> _Open:
        ev = _Open(self._next_no, start, part, previous, last, peak_ts=ts, boxes=[], doubts={})
        self._next_no += 1
        self._open = ev
        return ev

    @staticmethod
    def _started(ev: _Open, first_motion_ts: float) -> EventStarted:
        return EventStarted(ev.event_no, ev.start_ts, ev.part, ev.previous_event_no, first_motion_ts)

    def _close(self, ev: _Open, end_ts: float) -> EventEnded:
        self._open = None
        self._last_end_ts = end_ts
        # A part with no motion of its own (a split in a long event) keeps full confidence:
        # its doubt, if any, was reported with the part that had the motion.
        confidence = ev.confidence if ev.doubts or ev.confidence > 0 else 1.0
        guard = None
        if confidence < 1.0 and ev.doubts:
            guard = max(ev.doubts, key=lambda g: ev.doubts[g] if ev.doubts else 0)
        return EventEnded(
            event_no=ev.event_no,
            start_ts=ev.start_ts,
            end_ts=end_ts,
            peak_score=ev.peak_score,
            peak_ts=ev.peak_ts,
            boxes=tuple(ev.boxes or ()),
            part=ev.part,
            previous_event_no=ev.previous_event_no,
            confidence=round(confidence, 3),
            doubt_guard=guard,
        )
