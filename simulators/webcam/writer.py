"""Writes a scenario to an H.264 MP4 (browser-playable, faststart) and its ground-truth JSON."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av

from simulators.webcam.scene import Scene


def write_video(scene: Scene, out: Path, truth: Path | None = None, crf: int = 23) -> int:
    """Render every frame of the scene into `out` (and the truth JSON); return the frame count."""
    cfg = scene.config
    out.parent.mkdir(parents=True, exist_ok=True)
    fps = Fraction(cfg.fps).limit_denominator(1000)
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = cfg.width
        stream.height = cfg.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(crf)}
        for i in range(cfg.frames):
            frame = av.VideoFrame.from_ndarray(scene.render(i), format="bgr24")
            frame.pts = i
            frame.time_base = 1 / fps
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if truth is not None:
        truth.parent.mkdir(parents=True, exist_ok=True)
        truth.write_text(json.dumps(scene.truth(), indent=1), encoding="utf-8")
    return cfg.frames
