"""Still pictures made from a clip on first request (poster frame, and the snapshot or
thumbnail the worker could not write), cached on disk beside the clip.

OpenCV is imported here only, lazily: the API needs it for these files alone, and the import
costs some 50 MB that an API which never serves a poster should not carry."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 320
JPEG_QUALITY = 85


def _frame_at(clip: Path, seconds: float) -> Any | None:
    import cv2  # lazy: see the module docstring

    capture = cv2.VideoCapture(str(clip))
    try:
        if not capture.isOpened():
            return None
        if seconds > 0:
            capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000.0)
        ok, frame = capture.read()
        if not ok and seconds > 0:  # past the end or not seekable: the first frame
            capture.set(cv2.CAP_PROP_POS_MSEC, 0)
            ok, frame = capture.read()
        return frame if ok else None
    finally:
        capture.release()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def frame_jpeg(clip: Path, seconds: float, width: int | None) -> bytes | None:
    """The JPEG of the clip's frame at seconds (scaled down to width if given), or None."""
    import cv2

    frame = _frame_at(clip, max(0.0, seconds))
    if frame is None:
        return None
    if width is not None and frame.shape[1] > width:
        height = max(1, round(frame.shape[0] * width / frame.shape[1]))
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return encoded.tobytes() if ok else None


def still(clip: Path, target: Path, seconds: float, *, width: int | None) -> bytes | None:
    """The JPEG of the clip's frame at seconds (scaled to width if given), cached at target.

    Two requests at once may both make it; the atomic rename keeps the file whole. A media
    directory the API may not write to still gets its answer, just not cached."""
    data = frame_jpeg(clip, seconds, width)
    if data is None:
        return None
    try:
        _write_atomic(target, data)
    except OSError as exc:
        log.warning("image non mise en cache (%s) : %s", target.name, exc.strerror)
    return bytes(data)
