"""Event clips: browser-playable H.264 MP4 (faststart), a snapshot of the peak frame, a thumbnail.

Every file is written under a temporary name in its final directory and renamed when complete,
so a crash, a full disk or a stop never leaves a half-written file under a real name.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from camera.errors import ClipError, DiskFullError
from camera.store import EventFiles
from vigie.camera_view import VIEW_MAX_SIDE, view_path

log = logging.getLogger(__name__)

_TIME_BASE = Fraction(1, 1000)  # pts in milliseconds: the stream's own timestamps, kept as is
# How often (in frames) a long clip re-checks free space while it grows.
_DISK_CHECK_EVERY = 25


@dataclass(frozen=True)
class ClipOptions:
    """Encoder and file settings shared by every clip of a worker."""

    min_free_bytes: int = 0
    jpeg_quality: int = 80
    thumbnail_width: int = 320
    preset: str = "veryfast"
    crf: int = 26


def event_key(start_ts: float, part: int = 1) -> str:
    """The file stem of an event: UTC start to the millisecond, then the part number."""
    start = datetime.fromtimestamp(start_ts, UTC)
    return f"{start:%Y%m%dT%H%M%S}{start.microsecond // 1000:03d}Z-p{part}"


def event_dir(media_dir: Path, camera_id: str, start_ts: float) -> Path:
    """media/<camera>/<YYYY>/<MM>/<DD>, dated by the event's UTC start."""
    start = datetime.fromtimestamp(start_ts, UTC)
    return media_dir / camera_id / f"{start:%Y}" / f"{start:%m}" / f"{start:%d}"


def free_bytes(path: Path) -> int:
    """Free space on the file system holding path (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_disk(media_dir: Path, min_free_bytes: int) -> None:
    """Raise DiskFullError when less than min_free_bytes are free for the media directory."""
    free = free_bytes(media_dir)
    if free < min_free_bytes:
        raise DiskFullError(
            f"disque presque plein : {free // 1024**2} Mio libres sous {media_dir}, "
            f"minimum {min_free_bytes // 1024**2} Mio ; aucun nouveau clip n'est écrit"
        )


def encode_jpeg(frame_bgr: np.ndarray[Any, Any], quality: int) -> bytes:
    """JPEG bytes of a BGR frame."""
    ok, buf = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ClipError("l'encodage JPEG a échoué")
    return bytes(buf.tobytes())


# Above this a "JPEG" is a decompression bomb (a few kB declaring 60000x60000), not a camera.
MAX_PIXELS = 40_000_000
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header without decoding it; None if not found."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS and pos + 9 <= len(data):
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def decode_jpeg(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray[Any, Any] | None:
    """A BGR frame from JPEG bytes, or None when they are not a sane, decodable image."""
    if not data:
        return None
    size = jpeg_size(data)
    if size is None or size[0] * size[1] > max_pixels or 0 in size:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return img if img is not None and img.size else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_view(media_dir: Path, camera_id: str, frame_bgr: np.ndarray[Any, Any], quality: int) -> int:
    """Write the camera's current view (vigie.camera_view: the frame downscaled, as JPEG),
    replacing the previous one atomically so that the API never sends half a picture; its size.

    No fsync: the file is replaced every few seconds, and a view lost to a crash is only stale.
    """
    height, width = frame_bgr.shape[:2]
    scale = min(1.0, VIEW_MAX_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frame_bgr = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
    data = encode_jpeg(frame_bgr, quality)
    path = view_path(media_dir, camera_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


class ClipWriter:
    """Encodes one event's frames into <event_dir>/<key>.mp4, with snapshot and thumbnail."""

    def __init__(
        self,
        media_dir: Path,
        camera_id: str,
        key: str,
        start_ts: float,
        *,
        fps: float,
        options: ClipOptions,
    ) -> None:
        self.media_dir = media_dir
        self.options = options
        directory = event_dir(media_dir, camera_id, start_ts)
        check_disk(media_dir, options.min_free_bytes)
        directory.mkdir(parents=True, exist_ok=True)
        self.final = directory / f"{key}.mp4"
        self.tmp = directory / f".{key}.mp4.part"
        self._fps = max(1, min(60, round(fps)))
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._first_ts: float | None = None
        self._last_pts = -1
        self._frames = 0
        self._stopped_reason: str | None = None
        self._peak_score = -1.0
        self._peak_frame: np.ndarray[Any, Any] | None = None

    @property
    def frames(self) -> int:
        """Frames encoded so far."""
        return self._frames

    def _open(self, width: int, height: int) -> None:
        # yuv420p needs even dimensions; odd ones lose their last row/column.
        self._size = (width - width % 2, height - height % 2)
        try:
            self._container = av.open(str(self.tmp), "w", format="mp4", options={"movflags": "+faststart"})
            stream = self._container.add_stream(
                "libx264",
                rate=self._fps,
                # zerolatency: no lookahead and no B-frames, so the encoder holds ~35 MB at 720p
                # instead of ~85 MB; the clip still plays in every browser.
                options={
                    "preset": self.options.preset,
                    "crf": str(self.options.crf),
                    "tune": "zerolatency",
                },
            )
            stream.width, stream.height = self._size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = _TIME_BASE
            self._stream = stream
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise ClipError(f"impossible d'ouvrir le clip {self.final.name} : {exc}") from exc

    def add(self, frame_bgr: np.ndarray[Any, Any], ts: float, score: float = 0.0) -> None:
        """Append a frame taken at ts (epoch seconds); score picks the snapshot frame."""
        if self._stopped_reason is not None:
            return
        if self._container is None:
            self._open(frame_bgr.shape[1], frame_bgr.shape[0])
        assert self._size is not None
        width, height = self._size
        if frame_bgr.shape[1] != width or frame_bgr.shape[0] != height:
            # A resolution change inside an event: keep one size per clip.
            frame_bgr = cv2.resize(frame_bgr, (width, height), interpolation=cv2.INTER_AREA)
        if score > self._peak_score:
            self._peak_score = score
            self._peak_frame = frame_bgr.copy()
        if self._first_ts is None:
            self._first_ts = ts
        # Keep the stream's timing; a timestamp going backwards still gets a later pts.
        pts = max(round((ts - self._first_ts) * 1000), self._last_pts + 1)
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
        frame.pts = pts
        frame.time_base = _TIME_BASE
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise ClipError(f"écriture du clip {self.final.name} impossible : {exc}") from exc
        self._frames += 1
        if self._frames % _DISK_CHECK_EVERY == 0:
            try:
                check_disk(self.media_dir, self.options.min_free_bytes)
            except DiskFullError as exc:
                # Close what we have as a valid, shorter clip rather than risk a broken one.
                self._stopped_reason = str(exc)
                log.error("clip %s tronqué : %s", self.final.name, exc)

    def add_jpeg(self, jpeg: bytes, ts: float, score: float = 0.0) -> None:
        """Append a pre-roll frame kept as JPEG bytes."""
        img = decode_jpeg(jpeg)
        if img is not None:
            self.add(img, ts, score)

    def abort(self) -> None:
        """Drop the clip in progress and its temporary file."""
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError):
                log.debug("closing an aborted clip failed", exc_info=True)
        self._container = None
        self.tmp.unlink(missing_ok=True)

    def close(self) -> EventFiles:
        """Finish the MP4, write snapshot and thumbnail, rename into place; return the paths."""
        if self._container is None or self._frames == 0:
            self.abort()
            raise ClipError(f"clip {self.final.name} sans image")
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            self.tmp.replace(self.final)
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise ClipError(f"finalisation du clip {self.final.name} impossible : {exc}") from exc
        snapshot = self.final.with_suffix(".jpg")
        thumbnail = self.final.with_name(self.final.stem + ".thumb.jpg")
        assert self._peak_frame is not None
        try:
            _write_atomic(snapshot, encode_jpeg(self._peak_frame, self.options.jpeg_quality))
            _write_atomic(thumbnail, encode_jpeg(self.thumbnail(self._peak_frame), 75))
        except (OSError, ClipError) as exc:
            # The clip is valid on its own; the event keeps it and says what is missing.
            rel = str(self.final.relative_to(self.media_dir))
            return EventFiles(rel, None, None, self.final.stat().st_size, f"aperçu : {exc}")
        paths = (self.final, snapshot, thumbnail)
        return EventFiles(
            clip_path=str(self.final.relative_to(self.media_dir)),
            snapshot_path=str(snapshot.relative_to(self.media_dir)),
            thumbnail_path=str(thumbnail.relative_to(self.media_dir)),
            media_bytes=sum(p.stat().st_size for p in paths),
            media_error=self._stopped_reason,
        )

    def thumbnail(self, frame: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The frame scaled down to the configured thumbnail width."""
        height, width = frame.shape[:2]
        target = min(self.options.thumbnail_width, width)
        size = (target, max(1, round(height * target / width)))
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
