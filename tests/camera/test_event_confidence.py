"""Doubted motion is kept as a low-confidence event, and its confidence and guard are stored."""

from __future__ import annotations

import psycopg
import pytest

from camera import store
from camera.config import EventConfig
from camera.detect.base import Box, MotionResult
from camera.events import EventEnded, EventTracker
from camera.store import EventFiles
from tests.camera.factories import camera

Conn = psycopg.Connection[tuple[object, ...]]
T0 = 1_795_852_800.0
BOX = Box(0.1, 0.2, 0.3, 0.4)


def frame(motion: bool, confidence: float = 1.0, guard: str | None = None) -> MotionResult:
    return MotionResult(
        0.01 if motion else 0.0, (BOX,) if motion else (), motion, False, False, confidence, guard
    )


def ended(frames: list[MotionResult]) -> list[EventEnded]:
    tracker = EventTracker(EventConfig())
    out: list[EventEnded] = []
    for i, r in enumerate(frames):
        out += [e for e in tracker.update(i / 5, r) if isinstance(e, EventEnded)]
    out += tracker.flush(len(frames) / 5)
    return out


def test_an_event_made_only_of_doubted_motion_keeps_its_doubt() -> None:
    frames = [frame(False)] * 5 + [frame(True, 0.25, "ir_switch")] * 4 + [frame(False)] * 100
    (ev,) = ended(frames)
    assert ev.confidence == 0.25
    assert ev.doubt_guard == "ir_switch"


def test_one_sure_frame_makes_the_event_sure() -> None:
    frames = [frame(True, 0.25, "light_change")] * 3 + [frame(True)] + [frame(False)] * 100
    (ev,) = ended(frames)
    assert ev.confidence == 1.0
    assert ev.doubt_guard is None


def test_the_guard_that_doubted_most_frames_is_named() -> None:
    frames = [frame(True, 0.25, "light_change")] + [frame(True, 0.25, "ir_switch")] * 3 + [frame(False)] * 100
    (ev,) = ended(frames)
    assert ev.doubt_guard == "ir_switch"


def test_confidence_and_guard_are_stored_and_sortable(db: Conn) -> None:
    store.upsert_camera(db, camera())
    sure = store.insert_event(db, "etang-nord", "k1", T0)
    doubted = store.insert_event(db, "etang-nord", "k2", T0 + 60)
    store.finish_event(db, sure, end_ts=T0 + 20, peak_score=0.1, peak_ts=T0 + 5, boxes=[], files=EventFiles())
    store.finish_event(
        db,
        doubted,
        end_ts=T0 + 80,
        peak_score=0.1,
        peak_ts=T0 + 65,
        boxes=[],
        files=EventFiles(),
        confidence=0.25,
        doubt_guard="ir_switch",
    )
    rows = db.execute(
        "SELECT event_key, confidence, doubt_guard FROM camera_events ORDER BY confidence, start_ts"
    ).fetchall()
    assert rows == [("k2", 0.25, "ir_switch"), ("k1", 1.0, None)]


def test_an_event_still_running_has_full_confidence_by_default(db: Conn) -> None:
    store.upsert_camera(db, camera())
    store.insert_event(db, "etang-nord", "k", T0)
    assert db.execute("SELECT confidence, doubt_guard FROM camera_events").fetchone() == (1.0, None)


def test_out_of_range_confidence_is_clamped_not_refused(db: Conn) -> None:
    store.upsert_camera(db, camera())
    eid = store.insert_event(db, "etang-nord", "k", T0)
    store.finish_event(
        db, eid, end_ts=T0 + 5, peak_score=0.1, peak_ts=None, boxes=[], files=EventFiles(), confidence=1.7
    )
    assert db.execute("SELECT confidence FROM camera_events").fetchone() == (1.0,)


@pytest.mark.parametrize("guard", ["Ir Switch", "x" * 41, "'; DROP TABLE cameras; --"])
def test_a_malformed_guard_name_is_refused_by_the_table(db: Conn, guard: str) -> None:
    store.upsert_camera(db, camera())
    eid = store.insert_event(db, "etang-nord", "k", T0)
    with pytest.raises(psycopg.errors.CheckViolation):
        store.finish_event(
            db,
            eid,
            end_ts=T0 + 5,
            peak_score=0.1,
            peak_ts=None,
            boxes=[],
            files=EventFiles(),
            doubt_guard=guard,
        )
