"""One worker per camera: capture -> bounded queue -> detection, events, clips, health.

Each camera has two threads of its own. The capture thread reads the source and puts frames in
a small queue; when detection falls behind, the oldest frame is dropped and counted, so a slow
camera never holds up the others nor grows memory. The processing thread runs the detector and
the EventTracker, keeps the pre-roll as JPEG bytes (a 720p frame is ~2.7 MB raw, ~100 kB as
JPEG), writes clips, and reports health. A watchdog publishes "lost" after N seconds without
frames and "online" again when they come back; the capture thread reconnects with exponential
backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from camera import store
from camera.clips import ClipOptions, ClipWriter, check_disk, encode_jpeg, event_key, write_view
from camera.config import (
    CameraConfigError,
    EventConfig,
    Mask,
    MotionConfig,
    load_event_config,
    load_motion_config,
)
from camera.detect.base import Box, Detector, MotionResult
from camera.detect.registry import make_detector
from camera.errors import ClipError, DiskFullError, SourceError
from camera.events import EventEnded, EventStarted, EventTracker
from camera.mqtt_events import CameraPublisher
from camera.people import Job, PeopleConfig, PeopleProposer
from camera.sources import SOURCE_KINDS, Frame, FrameSource, SourceOptions, open_source
from camera.store import Camera, EventFiles, Health
from vigie.heartbeat import Heartbeat, HeartbeatReporter
from vigie.logs import redact
from vigie.outbound import IPNetwork
from vigie.settings import CameraSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_BACKOFF_START_S = 0.5
_MIN_SIDE = 16


@dataclass
class Counters:
    """Figures shared by the two threads of a worker (ints: updates are atomic under the GIL)."""

    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_failed: int = 0
    reconnects: int = 0
    last_frame_mono: float | None = None
    last_frame_ts: float | None = None
    last_error: str | None = None


@dataclass
class _Recording:
    """The event being recorded."""

    event_no: int
    db_id: int | None
    key: str
    start_ts: float
    part: int
    previous_db_id: int | None
    writer: ClipWriter | None
    media_error: str | None = None
    clip_start_ts: float | None = None
    last_written_ts: float = float("-inf")
    last_motion_ts: float | None = None
    peak_score: float = 0.0


@dataclass
class _Buffered:
    ts: float
    jpeg: bytes
    score: float


@dataclass
class WorkerDeps:
    """What a worker talks to; any of pool and publisher may be None (e.g. `scan`-like runs)."""

    settings: CameraSettings
    pool: ConnectionPool | None = None
    publisher: CameraPublisher | None = None
    monotonic: Clock = time.monotonic
    wall: Clock = time.time
    source_options: SourceOptions | None = None
    # VIGIE_OUTBOUND__ALLOW_PRIVATE: cameras on the local network (and the demo's webcam).
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    # Where the detect loop's heartbeat goes (None: not reported), and its max interval.
    heartbeats: HeartbeatReporter | None = None
    stall_s: float = 60.0


class CameraWorker:
    """Watches one camera until stop() is called; run() blocks and never raises."""

    def __init__(self, camera: Camera, deps: WorkerDeps) -> None:
        self.camera = camera
        self.deps = deps
        self.settings = deps.settings
        self.stop_event = threading.Event()
        self.counters = Counters()
        self.state = "starting"
        self.disk_state = "ok"
        self.size: tuple[int, int] | None = None
        self.finished = threading.Event()
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=self.settings.queue_size)
        self._source: FrameSource | None = None
        self._source_ended = threading.Event()
        self._fatal = False
        self._heartbeat: Heartbeat | None = None
        self._ring: deque[_Buffered] = deque()
        self._ring_bytes = 0
        self._recording: _Recording | None = None
        self._db_ids: dict[int, int | None] = {}
        self._detector: Detector | None = None
        self._motion: MotionConfig | None = None
        self._events: EventConfig | None = None
        self._tracker: EventTracker | None = None
        self._last_ts: float | None = None
        self._started = self._last_health = deps.monotonic()
        self._health_frames = (0, 0)
        self._fps = (0.0, 0.0)
        self._fps_estimate = 5.0
        # Masks handed over by the supervisor's thread; the processing thread applies them.
        self._pending_masks: tuple[Mask, ...] | None = None
        self._last_view: float | None = None
        self._view_failed = False
        self._clip_options = ClipOptions(
            min_free_bytes=self.settings.min_free_bytes,
            jpeg_quality=self.settings.jpeg_quality,
            thumbnail_width=self.settings.thumbnail_width,
        )
        # People in the frame: its own thread, started by run(), fed as events close.
        self.people: PeopleProposer | None = (
            PeopleProposer(
                deps.pool,
                PeopleConfig(width=self.settings.people_width, threshold=self.settings.people_threshold),
                camera.id,
            )
            if self.settings.people_detection
            else None
        )

    # ---- life cycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop; the clip in progress is finished before run() returns."""
        self.stop_event.set()
        source = self._source
        if source is not None:
            source.close()  # unblocks a capture thread waiting on the network

    @property
    def masks(self) -> tuple[Mask, ...]:
        """The masks the detector applies now."""
        return self._motion.masks if self._motion is not None else ()

    def set_masks(self, motion_config: dict[str, Any]) -> bool:
        """Take the masks of a changed motion config, from any thread, without a restart: they
        apply from the next frame, the background learnt so far is kept. False (and the masks
        in use stay) when the config is invalid."""
        try:
            masks = load_motion_config(motion_config, self.camera.id).masks
        except CameraConfigError as exc:
            log.error("%s (masques inchangés)", exc)
            return False
        self._pending_masks = masks
        return True

    def _apply_masks(self) -> None:
        masks, self._pending_masks = self._pending_masks, None
        if masks is None or self._motion is None:
            return
        self._motion = self._motion.model_copy(update={"masks": masks})
        if self._detector is not None:
            self._detector.set_masks(masks)
        log.info("caméra %s : %d masque(s) appliqué(s) sans redémarrage", self.camera.id, len(masks))

    def _write_view(self, image: np.ndarray[Any, Any]) -> None:
        """Rewrite the current view at most every view_interval_s (vigie.camera_view)."""
        now = self.deps.monotonic()
        if self._last_view is not None and now - self._last_view < self.settings.view_interval_s:
            return
        self._last_view = now
        try:
            # The clips' floor holds for the view too: a nearly full disk keeps its last bytes
            # for the events (the health says "full" once an event cannot be written).
            check_disk(self.settings.media_dir, self.settings.min_free_bytes)
            write_view(self.settings.media_dir, self.camera.id, image, self.settings.jpeg_quality)
        except DiskFullError:
            return
        except (OSError, ValueError) as exc:
            if not self._view_failed:  # once, not every few seconds of a full disk
                log.warning("caméra %s : vue actuelle non écrite : %s", self.camera.id, exc)
            self._view_failed = True
            return
        self._view_failed = False

    def prepare(self) -> bool:
        """Validate the camera's configuration; False (state "error") when it is invalid."""
        try:
            self._motion = load_motion_config(self.camera.motion_config, self.camera.id)
            self._events = load_event_config(self.camera.event_config, self.camera.id)
            self._tracker = EventTracker(self._events)
        except CameraConfigError as exc:
            self.counters.last_error = str(exc)
            log.error("%s", exc)
            self._set_state("error")
            return False
        return True

    def run(self) -> None:
        """Capture and process until stop(); a failing camera reports an error and returns."""
        if not self.prepare():
            self.finished.set()
            return
        log.info("caméra %s : démarrage (%s)", self.camera.id, self.camera.safe_url)
        reporter = self.deps.heartbeats
        # The detect loop turns every 0.2 s even without frames. The capture thread is not
        # judged here: a camera that sends nothing is the watchdog's "lost", not our stall.
        self._heartbeat = (
            reporter.register(f"camera:{self.camera.id}", self.deps.stall_s) if reporter else None
        )
        capture = threading.Thread(target=self._capture_loop, name=f"capture-{self.camera.id}", daemon=True)
        capture.start()
        people = (
            threading.Thread(target=self.people.run, name=f"people-{self.camera.id}", daemon=True)
            if self.people is not None
            else None
        )
        if people is not None:
            people.start()
        self._report_health(force=True)
        try:
            self._process_loop()
        finally:
            self.stop_event.set()
            source = self._source
            if source is not None:
                source.close()
            capture.join(timeout=self.settings.watchdog_s + 5)
            self.finish()
            if self.people is not None and people is not None:
                # The last events' proposals are made before the worker says it stopped.
                self.people.stop()
                people.join(timeout=60)
            self._set_state("error" if self._fatal else "stopped")
            if reporter is not None and self._heartbeat is not None:
                reporter.unregister(self._heartbeat)
            self.finished.set()
            log.info("caméra %s : arrêtée", self.camera.id)

    # ---- capture thread ---------------------------------------------------------------------

    def _options(self) -> SourceOptions:
        if self.deps.source_options is not None:
            return self.deps.source_options
        return SourceOptions(
            timeout_s=self.settings.watchdog_s,
            max_part_bytes=self.settings.max_part_bytes,
            snapshot_interval_s=self.camera.snapshot_interval_s,
            allow_private=self.deps.allow_private,
            allowed_networks=self.deps.allowed_networks,
        )

    def _capture_loop(self) -> None:
        backoff = _BACKOFF_START_S
        kind = SOURCE_KINDS.get(self.camera.source_kind)
        live = kind.live if kind else True
        first = True
        while not self.stop_event.is_set():
            if not first:
                self.counters.reconnects += 1
            first = False
            got_frames = False
            try:
                self._source = open_source(
                    self.camera.source_kind,
                    self.camera.source_url,
                    self._options(),
                    clock=self.deps.wall,
                    stop=self.stop_event,
                )
                for frame in self._source.frames():
                    if self.stop_event.is_set():
                        break
                    got_frames = True
                    backoff = _BACKOFF_START_S
                    self.enqueue(frame, live=live)
                else:
                    if not live:
                        log.info("caméra %s : fin du fichier", self.camera.id)
                        self._source_ended.set()
                        return
            except SourceError as exc:
                if self.stop_event.is_set():
                    return  # stop() closed the connection under our feet
                self._source_failed(str(exc))
            except Exception as exc:  # a bug in a source must not kill the camera silently
                if self.stop_event.is_set():
                    return
                log.exception("caméra %s : erreur inattendue de la source", self.camera.id)
                self._source_failed(redact(f"{type(exc).__name__}: {exc}"))
            finally:
                if self._source is not None:
                    self._source.close()
            if not live:
                # A file that cannot be read will not get better by retrying, and reading it
                # again from the start would record its events twice.
                self._fatal = not got_frames
                log.error(
                    "caméra %s : fichier illisible, abandon : %s", self.camera.id, self.counters.last_error
                )
                self._source_ended.set()
                return
            if self.stop_event.wait(backoff):
                return
            backoff = min(backoff * 2, self.settings.backoff_max_s)

    def _source_failed(self, message: str) -> None:
        message = redact(message)
        if message != self.counters.last_error:
            log.warning("caméra %s : %s", self.camera.id, message)
        self.counters.last_error = message

    def enqueue(self, frame: Frame, *, live: bool) -> None:
        """Hand a captured frame to detection; a live camera drops its oldest when behind."""
        self.counters.frames_in += 1
        self.counters.last_frame_mono = self.deps.monotonic()
        self.counters.last_frame_ts = frame.ts
        if not live:
            # A file is not live: wait for detection rather than lose frames.
            while not self.stop_event.is_set():
                try:
                    self._queue.put(frame, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.counters.frames_dropped += 1
                except queue.Empty:
                    pass

    # ---- processing thread ------------------------------------------------------------------

    def _process_loop(self) -> None:
        while True:
            if self._heartbeat is not None:
                self._heartbeat.beat()
            try:
                frame = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.stop_event.is_set() or (self._source_ended.is_set() and self._queue.empty()):
                    return
                self._watchdog()
                self._report_health()
                continue
            try:
                self.process_frame(frame)
            except (ClipError, psycopg.Error) as exc:
                log.error("caméra %s : %s", self.camera.id, redact(str(exc)))
            except Exception:  # one bad frame or a detector bug must not end the camera
                self.counters.frames_failed += 1
                if self.counters.frames_failed in (1, 10, 100) or self.counters.frames_failed % 1000 == 0:
                    log.exception(
                        "caméra %s : image non traitée (%d en tout)",
                        self.camera.id,
                        self.counters.frames_failed,
                    )
            self._watchdog()
            self._report_health()

    def _watchdog(self) -> None:
        last = self.counters.last_frame_mono
        now = self.deps.monotonic()
        silent = now - (last if last is not None else self._started)
        if self.state in ("online", "starting") and silent > self.settings.watchdog_s:
            log.warning(
                "caméra %s perdue : aucune image depuis %.0f s (%s)",
                self.camera.id,
                silent,
                self.counters.last_error or "pas d'erreur",
            )
            self._set_state("lost")
            source = self._source
            if source is not None and last is not None:
                source.close()  # force a reconnect of a stream that stalls without error

    def process_frame(self, frame: Frame) -> None:
        """Detect motion on one frame and drive events and clips."""
        assert self._motion is not None and self._tracker is not None
        if self._pending_masks is not None:
            self._apply_masks()
        if self.state in ("starting", "lost"):
            if self.state == "lost":
                log.warning("caméra %s retrouvée", self.camera.id)
            self.counters.last_error = None
            self._set_state("online")
        image = frame.image
        size = (int(image.shape[1]), int(image.shape[0]))
        if min(size) < _MIN_SIDE or image.ndim != 3:
            # A thumbnail-sized or malformed frame cannot be analysed or encoded: skip it.
            self.counters.frames_failed += 1
            if self.counters.frames_failed == 1:
                log.warning("caméra %s : image de %dx%d ignorée (trop petite)", self.camera.id, *size)
            return
        if size != self.size:
            if self.size is not None:
                log.warning(
                    "caméra %s : résolution changée de %dx%d à %dx%d ; détecteur réinitialisé",
                    self.camera.id,
                    *self.size,
                    *size,
                )
            self.size = size
            self._detector = make_detector(self._motion)
        assert self._detector is not None
        if self._last_ts is not None and frame.ts > self._last_ts:
            # Smoothed frame rate of the stream, for the clip's nominal rate.
            self._fps_estimate = 0.9 * self._fps_estimate + 0.1 / max(frame.ts - self._last_ts, 1e-3)
        self._last_ts = frame.ts
        result = self._detector.process(image, frame.ts)
        self.counters.frames_processed += 1
        self._write_view(image)
        self._buffer(image, frame.ts, result)
        for change in self._tracker.update(frame.ts, result):
            self._on_change(change)
        self._record(image, frame.ts, result)

    def _buffer(self, image: np.ndarray[Any, Any], ts: float, result: MotionResult) -> None:
        assert self._events is not None
        jpeg = encode_jpeg(image, self.settings.jpeg_quality)
        self._ring.append(_Buffered(ts, jpeg, result.score))
        self._ring_bytes += len(jpeg)
        # Keep the pre-roll, plus the quiet tail of an event that may still be merged.
        horizon = self._events.pre_roll_s + self._events.gap_s + self._events.post_roll_s + 1.0
        while self._ring and self._ring[0].ts < ts - horizon:
            self._ring_bytes -= len(self._ring.popleft().jpeg)
        # A 4K or 25 fps camera would blow the memory budget: drop the oldest pre-roll instead.
        while len(self._ring) > 1 and self._ring_bytes > self.settings.ring_max_bytes:
            self._ring_bytes -= len(self._ring.popleft().jpeg)

    def _on_change(self, change: EventStarted | EventEnded) -> None:
        if isinstance(change, EventEnded):
            self._finish(change)
        else:
            self._start(change)

    def _start(self, started: EventStarted) -> None:
        if self._recording is not None:
            log.error("caméra %s : événement en cours non terminé ; clôture", self.camera.id)
            self._close_recording(self._recording, end_ts=started.start_ts, boxes=(), peak=None)
        previous = self._db_ids.get(started.previous_event_no) if started.previous_event_no else None
        key = event_key(started.start_ts, started.part)
        db_id = self._db(
            lambda c: store.insert_event(
                c,
                self.camera.id,
                key,
                started.start_ts,
                part=started.part,
                previous_event_id=previous,
            )
        )
        self._db_ids[started.event_no] = db_id
        writer: ClipWriter | None = None
        media_error: str | None = None
        try:
            writer = ClipWriter(
                self.settings.media_dir,
                self.camera.id,
                key,
                started.start_ts,
                fps=self._fps_estimate,
                options=self._clip_options,
            )
            if self.disk_state != "ok":
                log.warning("caméra %s : espace disque revenu, clips réactivés", self.camera.id)
                self.disk_state = "ok"
                self._report_health(force=True)
        except DiskFullError as exc:
            media_error = str(exc)
            if self.disk_state != "full":
                log.critical("caméra %s : %s", self.camera.id, exc)
                self.disk_state = "full"
                self._report_health(force=True)
        except ClipError as exc:
            media_error = str(exc)
            log.error("caméra %s : %s", self.camera.id, exc)
        rec = _Recording(
            started.event_no,
            db_id,
            key,
            started.start_ts,
            started.part,
            previous,
            writer,
            media_error,
            last_motion_ts=started.first_motion_ts or None,
        )
        self._recording = rec
        # The tracker's start already includes the pre-roll (clamped to the previous part).
        self._write_buffered(rec, started.start_ts, float("inf"), skip_last=True)
        self._publish_event("new", rec, {})
        log.info("caméra %s : événement %s commencé (partie %d)", self.camera.id, key, started.part)

    def _write_buffered(self, rec: _Recording, after: float, until: float, *, skip_last: bool) -> None:
        # The newest buffered frame is the one being processed: _record writes it as raw pixels.
        items = list(self._ring)[:-1] if skip_last else list(self._ring)
        for item in items:
            if item.ts >= after and rec.last_written_ts < item.ts <= until:
                self._write(rec, None, item.jpeg, item.ts, item.score)

    def _write(
        self,
        rec: _Recording,
        image: np.ndarray[Any, Any] | None,
        jpeg: bytes | None,
        ts: float,
        score: float,
    ) -> None:
        if rec.writer is None:
            rec.last_written_ts = ts
            return
        try:
            if image is not None:
                rec.writer.add(image, ts, score)
            elif jpeg is not None:
                rec.writer.add_jpeg(jpeg, ts, score)
        except ClipError as exc:
            log.error("caméra %s : %s", self.camera.id, exc)
            rec.writer = None
            rec.media_error = str(exc)
        if rec.clip_start_ts is None:
            rec.clip_start_ts = ts
        rec.last_written_ts = ts

    def _record(self, image: np.ndarray[Any, Any], ts: float, result: MotionResult) -> None:
        rec = self._recording
        if rec is None or ts <= rec.last_written_ts:
            return
        assert self._events is not None
        rec.peak_score = max(rec.peak_score, result.score)
        if result.motion:
            # Motion again inside the event: the quiet frames held back belong to the clip.
            self._write_buffered(rec, rec.start_ts, ts, skip_last=True)
            self._write(rec, image, None, ts, result.score)
            rec.last_motion_ts = ts
        elif ts <= (rec.last_motion_ts or rec.start_ts) + self._events.post_roll_s:
            self._write(rec, image, None, ts, result.score)
        # Otherwise hold the frame back in the ring: the event may end before it is needed.

    def _finish(self, ended: EventEnded) -> None:
        rec = self._recording
        if rec is None or rec.event_no != ended.event_no:
            log.warning("caméra %s : fin d'un événement inconnu %s", self.camera.id, ended.event_no)
            return
        # Frames up to the end (post-roll included) that were held back.
        self._write_buffered(rec, rec.start_ts, ended.end_ts, skip_last=False)
        self._close_recording(
            rec,
            end_ts=ended.end_ts,
            boxes=ended.boxes,
            peak=(ended.peak_score, ended.peak_ts),
            doubt=(ended.confidence, ended.doubt_guard),
        )

    def _close_recording(
        self,
        rec: _Recording,
        *,
        end_ts: float,
        boxes: Iterable[tuple[float, Box]],
        peak: tuple[float, float] | None,
        doubt: tuple[float, str | None] = (1.0, None),
    ) -> None:
        self._recording = None
        files = EventFiles(media_error=rec.media_error)
        if rec.writer is not None:
            try:
                files = rec.writer.close()
            except ClipError as exc:
                log.error("caméra %s : %s", self.camera.id, exc)
                files = EventFiles(media_error=str(exc))
        origin = rec.clip_start_ts if rec.clip_start_ts is not None else rec.start_ts
        box_rows = [
            {"t": round(t - origin, 3), **dict(zip("xywh", b.as_list(), strict=True))} for t, b in boxes
        ]
        peak_score, peak_ts = peak if peak is not None else (rec.peak_score, None)
        if rec.db_id is None:
            rec.db_id = self._db(
                lambda c: store.insert_event(
                    c,
                    self.camera.id,
                    rec.key,
                    rec.start_ts,
                    part=rec.part,
                    previous_event_id=rec.previous_db_id,
                )
            )
            self._db_ids[rec.event_no] = rec.db_id
        db_id = rec.db_id
        if db_id is not None:
            self._db(
                lambda c: store.finish_event(
                    c,
                    db_id,
                    end_ts=end_ts,
                    peak_score=peak_score,
                    peak_ts=peak_ts,
                    boxes=box_rows,
                    files=files,
                    clip_start_ts=rec.clip_start_ts,
                    confidence=doubt[0],
                    doubt_guard=doubt[1],
                )
            )
        if db_id is not None and files.clip_path and self.people is not None:
            self.people.submit(
                Job(
                    db_id,
                    self.settings.media_dir / files.clip_path,
                    max(0.0, end_ts - origin),
                    (peak_ts - origin) if peak_ts is not None else None,
                )
            )
        self._publish_event(
            "end",
            rec,
            {
                "end": end_ts,
                "peak_score": round(peak_score, 4),
                "peak_ts": peak_ts,
                "clip": files.clip_path,
                "snapshot": files.snapshot_path,
                "thumbnail": files.thumbnail_path,
                "boxes": len(box_rows),
                "media_error": files.media_error,
                "confidence": doubt[0],
                "doubt_guard": doubt[1],
            },
        )
        log.info(
            "caméra %s : événement %s terminé (%s)",
            self.camera.id,
            rec.key,
            files.clip_path or files.media_error,
        )
        # Keep the number-to-id map small: only a previous part can still be referenced.
        for no in [n for n in self._db_ids if n < rec.event_no]:
            del self._db_ids[no]

    def finish(self) -> None:
        """Graceful stop: drain what was captured, then end the event in progress."""
        while True:
            try:
                frame = self._queue.get_nowait()
            except queue.Empty:
                break
            try:
                self.process_frame(frame)
            except (ClipError, psycopg.Error) as exc:
                log.error("caméra %s : %s", self.camera.id, redact(str(exc)))
        if self._tracker is None:
            return
        ts = self._last_ts if self._last_ts is not None else self.deps.wall()
        for change in self._tracker.flush(ts):
            self._on_change(change)
        if self._recording is not None:
            self._close_recording(self._recording, end_ts=ts, boxes=(), peak=None)

    # ---- database, MQTT, health -------------------------------------------------------------

    def _db(self, work: Callable[[store.Conn], Any]) -> Any:
        pool = self.deps.pool
        if pool is None:
            return None
        try:
            with pool.connection() as conn:
                return work(conn)
        except psycopg.Error as exc:
            # The clip stays on disk; the row is retried at the end of the event.
            log.error("caméra %s : base de données indisponible : %s", self.camera.id, redact(str(exc)))
            return None

    def _publish_event(self, kind: str, rec: _Recording, extra: dict[str, Any]) -> None:
        if self.deps.publisher is None:
            return
        payload = {
            "id": rec.db_id,
            "key": rec.key,
            "start": rec.start_ts,
            "part": rec.part,
            "previous_id": rec.previous_db_id,
            **extra,
        }
        self.deps.publisher.event(self.camera.id, kind, payload)

    def health(self) -> Health:
        """The current health figures."""
        c = self.counters
        return Health(
            state=self.state,
            last_frame_ts=c.last_frame_ts,
            width=self.size[0] if self.size else None,
            height=self.size[1] if self.size else None,
            fps_in=self._fps[0],
            fps_processed=self._fps[1],
            frames_in=c.frames_in,
            frames_dropped=c.frames_dropped,
            reconnects=c.reconnects,
            disk_state=self.disk_state,
            last_error=c.last_error,
        )

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._report_health(force=True)

    def _report_health(self, *, force: bool = False) -> None:
        now = self.deps.monotonic()
        elapsed = now - self._last_health
        if not force and elapsed < self.settings.health_interval_s:
            return
        if elapsed > 0.5:
            c = self.counters
            prev_in, prev_done = self._health_frames
            self._fps = ((c.frames_in - prev_in) / elapsed, (c.frames_processed - prev_done) / elapsed)
            self._health_frames = (c.frames_in, c.frames_processed)
            self._last_health = now
        health = self.health()
        self._db(lambda conn: store.upsert_health(conn, self.camera.id, health))
        if self.deps.publisher is not None:
            self.deps.publisher.status(self.camera.id, health.as_json())
