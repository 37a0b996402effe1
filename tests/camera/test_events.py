"""EventTracker: pre-roll, post-roll, gap merging and splitting, driven by synthetic results."""

from __future__ import annotations

import pytest

from camera.config import EventConfig
from camera.detect.base import Box, MotionResult
from camera.events import EventEnded, EventStarted, EventTracker

FPS = 5
BOX = Box(0.1, 0.2, 0.3, 0.4)


def result(motion: bool, score: float = 0.01) -> MotionResult:
    return MotionResult(score if motion else 0.0, (BOX,) if motion else (), motion, False, False)


def drive(tracker: EventTracker, spans: list[tuple[float, float]], until: float) -> list[object]:
    """Feed 5 fps frames from 0 to `until`, with motion inside the given spans."""
    out: list[object] = []
    for i in range(int(until * FPS) + 1):
        ts = i / FPS
        motion = any(a <= ts < b for a, b in spans)
        out.extend(tracker.update(ts, result(motion, score=0.01 + ts / 1000)))
    out.extend(tracker.flush(until))
    return out


def test_pre_roll_reaches_back_and_post_roll_follows_last_motion() -> None:
    events = drive(EventTracker(EventConfig()), [(20.0, 24.0)], until=60.0)
    started, ended = events
    assert isinstance(started, EventStarted) and isinstance(ended, EventEnded)
    assert started.start_ts == pytest.approx(15.0)
    assert started.first_motion_ts == pytest.approx(20.0)
    assert started.part == 1 and started.previous_event_no is None
    assert ended.start_ts == pytest.approx(15.0)
    assert ended.end_ts == pytest.approx(23.8 + 5.0)
    assert 20.0 <= ended.peak_ts <= 23.8
    assert ended.boxes and ended.boxes[0] == (20.0, BOX)


def test_pre_roll_is_clamped_to_the_stream_start() -> None:
    events = drive(EventTracker(EventConfig()), [(2.0, 4.0)], until=30.0)
    assert isinstance(events[0], EventStarted)
    assert events[0].start_ts == 0.0


def test_motion_within_the_gap_is_merged_and_beyond_it_splits() -> None:
    merged = drive(EventTracker(EventConfig()), [(10.0, 12.0), (20.0, 22.0)], until=60.0)
    assert [type(e) for e in merged] == [EventStarted, EventEnded]
    apart = drive(EventTracker(EventConfig()), [(10.0, 12.0), (30.0, 32.0)], until=60.0)
    assert [type(e) for e in apart] == [EventStarted, EventEnded, EventStarted, EventEnded]
    second = apart[2]
    assert isinstance(second, EventStarted) and second.event_no == 2
    first_end = apart[1]
    assert isinstance(first_end, EventEnded)
    # The second pre-roll never reaches back into the first event.
    assert second.start_ts >= first_end.end_ts


def test_long_activity_is_split_into_linked_parts() -> None:
    cfg = EventConfig(max_clip_s=30.0)
    events = drive(EventTracker(cfg), [(10.0, 80.0)], until=120.0)
    starts = [e for e in events if isinstance(e, EventStarted)]
    ends = [e for e in events if isinstance(e, EventEnded)]
    assert [s.part for s in starts] == [1, 2, 3]
    assert starts[1].previous_event_no == starts[0].event_no
    assert starts[2].previous_event_no == starts[1].event_no
    for s, e in zip(starts, ends, strict=True):
        assert e.event_no == s.event_no
        assert e.end_ts - e.start_ts <= cfg.max_clip_s + 1e-9
    # Parts are contiguous: no frame falls between two parts.
    assert starts[1].start_ts == pytest.approx(ends[0].end_ts)
    assert ends[-1].end_ts == pytest.approx(79.8 + 5.0)


def test_the_length_limit_in_the_quiet_tail_ends_the_event_without_an_empty_part() -> None:
    """Motion stopped 8 s before the 120 s limit: the event ends; no part begins after its end."""
    events = drive(EventTracker(EventConfig()), [(10.0, 117.0)], until=160.0)
    starts = [e for e in events if isinstance(e, EventStarted)]
    ends = [e for e in events if isinstance(e, EventEnded)]
    assert [s.part for s in starts] == [1]
    (ended,) = ends
    assert ended.start_ts == pytest.approx(5.0)
    assert ended.end_ts == pytest.approx(116.8 + 5.0)
    # Motion still inside the post-roll at the limit: split, and the part ends after it starts.
    events = drive(EventTracker(EventConfig()), [(10.0, 123.0)], until=160.0)
    ends = [e for e in events if isinstance(e, EventEnded)]
    assert [e.part for e in ends] == [1, 2]
    assert all(e.end_ts > e.start_ts for e in ends)


def test_flush_closes_an_open_event_at_shutdown() -> None:
    tracker = EventTracker(EventConfig())
    for i in range(20):
        tracker.update(i / FPS, result(True))
    assert tracker.active
    (ended,) = tracker.flush(3.9)
    assert ended.end_ts == pytest.approx(3.9)
    assert not tracker.active
    assert tracker.flush(5.0) == []


def test_a_clock_that_steps_back_never_ends_an_event_before_it_starts() -> None:
    tracker = EventTracker(EventConfig())
    tracker.update(100.0, result(True))
    tracker.update(50.0, result(True))  # camera rebooted and restarted its clock
    out = tracker.update(200.0, result(False))
    (ended,) = [e for e in out if isinstance(e, EventEnded)]
    assert ended.end_ts >= ended.start_ts


def test_peak_is_the_strongest_frame() -> None:
    tracker = EventTracker(EventConfig())
    scores = [0.01, 0.05, 0.2, 0.03]
    for i, s in enumerate(scores):
        tracker.update(10 + i / FPS, result(True, score=s))
    (ended,) = tracker.flush(20.0)
    assert ended.peak_score == pytest.approx(0.2)
    assert ended.peak_ts == pytest.approx(10.4)


def test_boxes_stay_bounded_for_endless_motion() -> None:
    tracker = EventTracker(EventConfig(max_clip_s=3600))
    for i in range(5000):
        tracker.update(i / FPS, MotionResult(0.1, (BOX, BOX), True, False, False))
    (ended,) = tracker.flush(1000.0)
    assert 0 < len(ended.boxes) <= 1000


@pytest.mark.parametrize(
    "bad",
    [{"pre_roll_s": -1}, {"gap_s": "soon"}, {"max_clip_s": 5}, {"unknown": 1}],
)
def test_invalid_event_config_is_refused_clearly(bad: dict[str, object]) -> None:
    from camera.config import CameraConfigError, load_event_config

    with pytest.raises(CameraConfigError, match="caméra cam1"):
        load_event_config(bad, camera="cam1")
