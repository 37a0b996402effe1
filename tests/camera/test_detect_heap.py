"""The detector does not fault its frame arrays back in every frame (CPU, see docs/camera.md)."""

from __future__ import annotations

import platform
import resource

import numpy as np
import pytest

from camera.config import MotionConfig
from camera.detect import common
from camera.detect.registry import make_detector

# With glibc's default trimming each 640x360 colour frame cost about 1,300 page faults (the
# freed full-frame arrays went back to the kernel and came back); with the heap kept, a few.
MAX_FAULTS_PER_FRAME = 100


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.parametrize("name", ["frigate_like", "mog2"])
def test_frames_do_not_fault_their_arrays_back_in(name: str) -> None:
    assert common.HEAP_KEPT
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    det = make_detector(MotionConfig(detector=name))
    frames = []
    for i in range(40):
        f = np.roll(base, i, axis=1)  # a changing picture: blobs, labels, the whole pipeline
        f[100:160, 10 * i : 10 * i + 40] = 255
        frames.append(f)
    for i, f in enumerate(frames[:10]):
        det.process(f, i / 5)  # warm-up: the heap grows to its working size once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i, f in enumerate(frames[10:], start=10):
        det.process(f, i / 5)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults / 30 < MAX_FAULTS_PER_FRAME, f"{faults / 30:.0f} page faults per frame"
