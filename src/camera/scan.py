"""`vigie camera scan`: run a detector and the event logic over a video file, as fast as possible."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, TextIO

import av
import numpy as np
import typer

from camera.config import CameraConfigError, EventConfig, MotionConfig
from camera.detect.base import Box
from camera.detect.common import detection_size
from camera.detect.registry import DETECTORS, make_detector
from camera.errors import CameraInputError
from camera.events import EventEnded, EventTracker

log = logging.getLogger(__name__)

# Boxes printed per event: enough for an overlay, bounded for a long event.
MAX_PRINTED_BOXES = 60


@dataclass
class Summary:
    """What a scan found: counts, CPU time and the events themselves."""

    frames: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    events: list[EventEnded] = field(default_factory=list)
    first_ts: float = 0.0

    def summary_line(self) -> dict[str, dict[str, float | int]]:
        """The final JSON line of `--json`."""
        return {
            "summary": {
                "frames": self.frames,
                "seconds": round(self.seconds, 3),
                "events": len(self.events),
                "cpu_s": round(self.cpu_s, 3),
            }
        }


def event_json(ev: EventEnded, origin: float) -> dict[str, object]:
    """One event as the `--json` object: times from the file start, normalised boxes."""
    boxes: list[Box] = [b for _, b in ev.boxes]
    if len(boxes) > MAX_PRINTED_BOXES:
        step = len(boxes) / MAX_PRINTED_BOXES
        boxes = [boxes[int(i * step)] for i in range(MAX_PRINTED_BOXES)]
    return {
        "start_s": round(ev.start_ts - origin, 3),
        "end_s": round(ev.end_ts - origin, 3),
        "peak_score": round(ev.peak_score, 5),
        "confidence": ev.confidence,
        "doubt_guard": ev.doubt_guard,
        "boxes": [b.as_list() for b in boxes],
    }


def decode_frames(path: Path, detection_height: int | None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds, BGR frame) from a file, scaled down to the detection size when given."""
    if not path.is_file():
        raise CameraInputError(f"fichier introuvable : {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CameraInputError(f"{path} n'est pas une vidéo lisible : {exc}") from exc
    with container:
        if not container.streams.video:
            raise CameraInputError(f"{path} ne contient aucune piste vidéo")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 5)
        size: tuple[int, int] | None = None
        index = 0
        try:
            for frame in container.decode(stream):
                if size is None:
                    size = (frame.width, frame.height)
                    if detection_height:
                        size = detection_size(frame.width, frame.height, detection_height)
                ts = float(frame.time) if frame.time is not None else index / rate
                # Scaling in swscale while converting costs less than converting full size.
                img = frame.to_ndarray(format="bgr24", width=size[0], height=size[1], interpolation="AREA")
                index += 1
                yield ts, img
        except (av.error.FFmpegError, ValueError) as exc:
            if index == 0:
                raise CameraInputError(f"{path} : vidéo illisible ou corrompue : {exc}") from exc
            # Damaged tail: keep what was decoded, say so on stderr.
            log.warning("%s endommagé après %d images : %s", path, index, exc)
        if index == 0:
            raise CameraInputError(f"{path} : aucune image décodable")


def scan_file(
    path: Path,
    detector: str,
    config: MotionConfig | None = None,
    out: TextIO | None = None,
    as_json: bool = False,
    events: EventConfig | None = None,
) -> Summary:
    """Detect motion events in a video file; print them (JSON lines or text); return a summary."""
    motion_cfg = (config or MotionConfig()).model_copy(update={"detector": detector})
    if detector not in DETECTORS:
        raise CameraConfigError(f"détecteur inconnu {detector!r} ; choix possibles : {', '.join(DETECTORS)}")
    det = make_detector(motion_cfg)
    tracker = EventTracker(events or EventConfig())
    summary = Summary()
    cpu0 = time.process_time()
    last_ts = 0.0
    for ts, img in decode_frames(path, motion_cfg.detection_height):
        if summary.frames == 0:
            summary.first_ts = ts
        summary.frames += 1
        last_ts = ts
        for ev in tracker.update(ts, det.process(img, ts)):
            if isinstance(ev, EventEnded):
                _emit(ev, summary, out, as_json)
    for ev in tracker.flush(last_ts):
        _emit(ev, summary, out, as_json)
    summary.cpu_s = time.process_time() - cpu0
    summary.seconds = last_ts - summary.first_ts
    if out is not None:
        if as_json:
            out.write(json.dumps(summary.summary_line()) + "\n")
        else:
            out.write(
                f"{summary.frames} images, {summary.seconds:.1f} s de vidéo, "
                f"{len(summary.events)} événement(s), {summary.cpu_s:.1f} s CPU\n"
            )
    return summary


def _emit(ev: EventEnded, summary: Summary, out: TextIO | None, as_json: bool) -> None:
    summary.events.append(ev)
    if out is None:
        return
    obj = event_json(ev, summary.first_ts)
    if as_json:
        out.write(json.dumps(obj) + "\n")
    else:
        out.write(
            f"événement {len(summary.events)} : {obj['start_s']:.1f} s → {obj['end_s']:.1f} s, "
            f"score max {ev.peak_score:.4f}"
            + (f", douteux ({ev.doubt_guard}, confiance {ev.confidence:.2f})" if ev.doubt_guard else "")
            + "\n"
        )
    out.flush()


def scan_command(
    video_file: Annotated[Path, typer.Argument(help="Video file to scan (MP4, MKV, AVI...).")],
    detector: Annotated[str, typer.Option(help=f"Motion detector: {', '.join(DETECTORS)}.")] = "frigate_like",
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per event, then a summary line.")
    ] = False,
    detection_height: Annotated[
        int | None, typer.Option(min=60, max=1080, help="défaut : celui de MotionConfig (360)")
    ] = None,
) -> None:
    """Run motion detection and the event logic over a video file; writes nothing to the DB."""
    try:
        fields: dict[str, object] = {"detector": detector}
        if detection_height is not None:  # else the config's own default
            fields["detection_height"] = detection_height
        config = MotionConfig.model_validate(fields)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.echo(f"erreur : détecteur {detector!r} inconnu ({', '.join(DETECTORS)})", err=True)
        raise typer.Exit(2) from exc
    try:
        scan_file(video_file, detector, config, sys.stdout, json_output)
    except (CameraInputError, CameraConfigError) as exc:
        typer.echo(f"erreur : {exc}", err=True)
        raise typer.Exit(1) from exc
