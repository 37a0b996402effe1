"""People in the frame (issue 11 §1, RGPD): when an event closes, the camera worker runs the
HOG people detector (camera.hog) on a few of its clip's frames and records its proposal
(migration 420, `person_proposals`). A proposal hides the event from viewers until a
naturalist clears it (docs/review.md, "People in the frame").

CPU is bounded per event: the frame at the motion's peak and two others (a quarter and three
quarters into the clip), each downscaled to `people_width` (640 px: a 720p frame is halved, so a
person must stand about 200 px tall in it to fill HOG's 128 px window with its margin), about
0.3 s of CPU per frame on this project's 2-core machines. The work runs on a thread of its own
behind a small queue, so detection never holds up the camera's frames; when the queue is full
an event goes unanalysed (logged), it never blocks."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import psycopg
from psycopg_pool import ConnectionPool

from camera import hog, store
from vigie.logs import redact

log = logging.getLogger(__name__)

DETECTOR = "opencv-hog"
QUEUE_SIZE = 16
# Boxes kept per proposal (the table refuses more than 200).
MAX_BOXES = 20

Image = Any


@dataclass(frozen=True)
class PeopleConfig:
    """How the proposal runs."""

    width: int = 640
    # The SVM's own boundary (OpenCV's default hitThreshold): bench/review_people.py sweeps it.
    threshold: float = 0.0


@dataclass(frozen=True)
class Proposal:
    """The detector's view of an event: proposed when some frame scored above the threshold."""

    proposed: bool
    score: float
    boxes: tuple[dict[str, float], ...]
    frames: int


def sample_offsets(duration_s: float, peak_s: float | None) -> list[float]:
    """Seconds into the clip of the frames to look at: the peak, then 1/4 and 3/4 in."""
    duration = max(0.0, duration_s)
    wanted = [peak_s if peak_s is not None else duration / 2, duration / 4, 3 * duration / 4]
    out: list[float] = []
    for t in wanted:
        t = min(max(0.0, t), duration)
        if all(abs(t - o) > 0.2 for o in out):
            out.append(round(t, 3))
    return out


def read_frames(clip: Path, offsets: Sequence[float]) -> list[tuple[float, Image]]:
    """(offset, BGR frame) of the clip at each offset that could be read."""
    capture = cv2.VideoCapture(str(clip))
    out: list[tuple[float, Image]] = []
    try:
        if not capture.isOpened():
            return out
        for t in offsets:
            capture.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
            ok, frame = capture.read()
            if ok and frame is not None and frame.ndim == 3:
                out.append((t, frame))
    finally:
        capture.release()
    return out


def propose_images(images: Sequence[tuple[float, Image]], config: PeopleConfig) -> Proposal:
    """Run the detector on each (offset, frame); boxes normalised to the frame."""
    best: float | None = None
    boxes: list[dict[str, float]] = []
    for t, image in images:
        height, width = image.shape[:2]
        # Never upscaled: a small frame is searched as it is.
        factor = min(1.0, config.width / width)
        small = (
            cv2.resize(image, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
            if factor < 1.0
            else image
        )
        sh, sw = small.shape[:2]
        for d in hog.detect(small, threshold=config.threshold):
            best = d.score if best is None else max(best, d.score)
            x0, y0 = max(0, d.x) / sw, max(0, d.y) / sh
            x1, y1 = min(sw, d.x + d.w) / sw, min(sh, d.y + d.h) / sh
            if x1 > x0 and y1 > y0:
                boxes.append(
                    {
                        "t": round(t, 3),
                        "x": round(x0, 4),
                        "y": round(y0, 4),
                        "w": round(x1 - x0, 4),
                        "h": round(y1 - y0, 4),
                        "score": round(d.score, 3),
                    }
                )
    boxes.sort(key=lambda b: -b["score"])
    # The score is the best window's (0 when none passed the threshold).
    score = round(best if best is not None else 0.0, 4)
    return Proposal(bool(boxes), score, tuple(boxes[:MAX_BOXES]), len(images))


def propose_clip(clip: Path, duration_s: float, peak_s: float | None, config: PeopleConfig) -> Proposal:
    """The proposal for one clip file."""
    return propose_images(read_frames(clip, sample_offsets(duration_s, peak_s)), config)


@dataclass(frozen=True)
class Job:
    """A closed event to look at."""

    event_id: int
    clip: Path
    duration_s: float
    peak_s: float | None


class PeopleProposer:
    """A camera worker's thread that runs the detector on closed events and stores the result.

    submit() never blocks; run() returns once stop() was called and the queue is empty."""

    def __init__(self, pool: ConnectionPool | None, config: PeopleConfig, camera_id: str) -> None:
        self.pool = pool
        self.config = config
        self.camera_id = camera_id
        self.stop_event = threading.Event()
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=QUEUE_SIZE)
        self.done = 0
        self.skipped = 0

    def submit(self, job: Job) -> None:
        """Queue an event; dropped (and logged) when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.skipped += 1
            log.warning(
                "caméra %s : détection de personnes en retard, événement %d non analysé",
                self.camera_id,
                job.event_id,
            )

    def stop(self) -> None:
        """Finish what is queued, then return from run()."""
        self.stop_event.set()

    def run(self) -> None:
        """Process queued events until stopped; never raises."""
        while True:
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.stop_event.is_set():
                    return
                continue
            self.handle(job)

    def handle(self, job: Job) -> Proposal | None:
        """Look at one event and store the proposal; None when it could not be done."""
        try:
            proposal = propose_clip(job.clip, job.duration_s, job.peak_s, self.config)
        except Exception:  # a detector bug must not end the camera's thread
            log.exception("caméra %s : détection de personnes en échec", self.camera_id)
            return None
        if self.pool is not None:
            try:
                with self.pool.connection() as conn:
                    store.save_person_proposal(
                        conn,
                        job.event_id,
                        proposed=proposal.proposed,
                        score=proposal.score,
                        boxes=proposal.boxes,
                        frames=proposal.frames,
                        detector=DETECTOR,
                    )
            except psycopg.Error as exc:
                log.error("caméra %s : proposition non enregistrée : %s", self.camera_id, redact(str(exc)))
                return None
        self.done += 1
        if proposal.proposed:
            log.info(
                "caméra %s : personne probable dans l'événement %d (score %.2f) : cachée aux lecteurs",
                self.camera_id,
                job.event_id,
                proposal.score,
            )
        return proposal
