"""Blurred renditions of clips with people in them, for an admin's export that includes them
(issue 11 §1, RGPD): the clip is decoded with PyAV, the regions where people are (the people
detector's boxes and the worker's motion boxes near each frame's time) are blurred with
OpenCV, and the frames are encoded again as H.264. The rendition is cached beside the clip as
`<clip>.blurred.mp4` (written under a temporary name, renamed when whole).

Which regions: a walker moves, and the detector looked at a few frames only, so each frame
blurs every person box the detector found *and* the motion boxes within `NEAR_S` of its time
(they follow whoever moves). A frame with no box at all is blurred whole: a clip flagged by a
naturalist without any box must not show a face by default. OpenCV and PyAV are imported
lazily, as in api.frames."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".blurred.mp4"
NEAR_S = 0.6
# Boxes grow by this share of their size on each side: a box hugs the body, hair and hands
# stick out of it.
MARGIN = 0.15
# Above this many frames a clip is not re-encoded (about 10 min at 5 fps): a guard, not a limit
# any real event reaches.
MAX_FRAMES = 20_000


def rendition_path(clip: Path) -> Path:
    """Where the blurred rendition of this clip is cached."""
    return clip.with_name(clip.stem + SUFFIX)


def regions_at(
    t: float, person_boxes: Sequence[dict[str, Any]], motion_boxes: Sequence[dict[str, Any]]
) -> list[tuple[float, float, float, float]]:
    """The normalised (x, y, w, h) regions to blur in the frame at t seconds into the clip."""
    out = []
    for b in [*person_boxes, *(m for m in motion_boxes if abs(float(m.get("t", 0.0)) - t) <= NEAR_S)]:
        try:
            x, y, w, h = (float(b[k]) for k in "xywh")
        except (KeyError, TypeError, ValueError):
            continue
        if w > 0 and h > 0:
            out.append((x - MARGIN * w, y - MARGIN * h, w * (1 + 2 * MARGIN), h * (1 + 2 * MARGIN)))
    return out


def blur_frame(image: Any, regions: Sequence[tuple[float, float, float, float]]) -> Any:
    """The BGR frame with these normalised regions blurred (the whole frame when none)."""
    import cv2  # lazy: see the module docstring

    height, width = image.shape[:2]
    out = image.copy()
    boxes = list(regions) or [(0.0, 0.0, 1.0, 1.0)]
    for x, y, w, h in boxes:
        x0, y0 = max(0, int(x * width)), max(0, int(y * height))
        x1, y1 = min(width, int((x + w) * width) + 1), min(height, int((y + h) * height) + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        patch = out[y0:y1, x0:x1]
        # Down to a few pixels and back, then smoothed: no face nor outline survives, whatever
        # the box's size (a fixed Gaussian kernel leaves a big face recognisable).
        tiny = (max(1, (x1 - x0) // 16), max(1, (y1 - y0) // 16))
        small = cv2.resize(patch, tiny, interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(coarse, (0, 0), max(2.0, (x1 - x0) / 24))
    return out


def make_rendition(
    clip: Path, person_boxes: Sequence[dict[str, Any]], motion_boxes: Sequence[dict[str, Any]]
) -> Path | None:
    """The cached blurred rendition of clip, made if missing; None if the clip cannot be read
    or the rendition cannot be written."""
    import av  # lazy: see the module docstring

    target = rendition_path(clip)
    if target.is_file() and target.stat().st_mtime >= clip.stat().st_mtime:
        return target
    fd, tmp_name = tempfile.mkstemp(dir=clip.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with (
            av.open(str(clip)) as src,
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as dst,
        ):
            stream_in = src.streams.video[0]
            rate = stream_in.average_rate or 5
            out = dst.add_stream(
                "libx264", rate=rate, options={"preset": "veryfast", "crf": "24", "tune": "zerolatency"}
            )
            out.width = stream_in.codec_context.width - stream_in.codec_context.width % 2
            out.height = stream_in.codec_context.height - stream_in.codec_context.height % 2
            out.pix_fmt = "yuv420p"
            time_base = stream_in.time_base or Fraction(1, 1000)
            out.codec_context.time_base = time_base
            first_pts: int | None = None
            frames = 0
            for frame in src.decode(stream_in):
                if frame.pts is None:
                    continue
                frames += 1
                if frames > MAX_FRAMES:
                    raise ValueError("clip trop long pour être flouté")
                first_pts = frame.pts if first_pts is None else first_pts
                t = float((frame.pts - first_pts) * time_base)
                image = frame.to_ndarray(format="bgr24")[: out.height, : out.width]
                blurred = av.VideoFrame.from_ndarray(
                    blur_frame(image, regions_at(t, person_boxes, motion_boxes)), format="bgr24"
                )
                blurred.pts = frame.pts
                blurred.time_base = time_base
                for packet in out.encode(blurred):
                    dst.mux(packet)
            for packet in out.encode():
                dst.mux(packet)
        if frames == 0:
            raise ValueError("clip sans image")
        os.replace(tmp, target)
    except (av.FFmpegError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        log.error("floutage impossible de %s : %s", clip.name, exc)
        return None
    return target
