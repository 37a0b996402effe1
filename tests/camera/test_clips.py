"""Clips: valid, browser-playable H.264 MP4 with faststart, snapshot and thumbnail, disk guard."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from camera.clips import ClipOptions, ClipWriter, check_disk, encode_jpeg, event_dir, event_key
from camera.errors import ClipError, DiskFullError
from camera.store import EventFiles

START = 1_795_852_800.0  # 2026-11-28T08:00:00Z


def frame(i: int, w: int = 320, h: int = 240) -> np.ndarray:
    img = np.full((h, w, 3), 80, np.uint8)
    img[100:140, (i * 7) % (w - 40) : (i * 7) % (w - 40) + 40] = 250
    return img


def top_level_atoms(path: Path) -> list[bytes]:
    """The MP4's top-level box types, in file order."""
    data = path.read_bytes()
    atoms, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        atoms.append(kind)
        if size < 8:
            break
        pos += size
    return atoms


def write_clip(media: Path, n: int = 40, fps: float = 10.0, thumbnail_width: int = 320) -> EventFiles:
    options = ClipOptions(thumbnail_width=thumbnail_width)
    writer = ClipWriter(media, "etang-nord", event_key(START), START, fps=fps, options=options)
    for i in range(n):
        # The first 20 frames are the pre-roll, handed over as JPEG from the ring buffer.
        if i < 20:
            writer.add_jpeg(encode_jpeg(frame(i), 85), START + i / fps, 0.0)
        else:
            writer.add(frame(i), START + i / fps, score=0.01 * i if i != 30 else 0.9)
    return writer.close()


def imread(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def rel(media: Path, p: str | None) -> Path:
    assert p is not None
    return media / p


def test_clip_is_faststart_h264_with_pre_roll(tmp_path: Path) -> None:
    files = write_clip(tmp_path)
    clip = rel(tmp_path, files.clip_path)
    assert clip.parent == event_dir(tmp_path, "etang-nord", START)
    assert clip.parent.relative_to(tmp_path).parts == ("etang-nord", "2026", "11", "28")
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert container.format.name.startswith("mov,mp4")
        decoded = sum(1 for _ in container.decode(stream))
        assert stream.duration is not None and stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
    assert decoded == 40
    # 40 frames at 10 fps: 4 s, the first 2 of which are pre-roll from JPEG.
    assert duration == pytest.approx(4.0, abs=0.15)
    atoms = top_level_atoms(clip)
    assert atoms.index(b"moov") < atoms.index(b"mdat"), atoms
    assert not list(clip.parent.glob(".*part")), "temporary files must be renamed or removed"


def test_snapshot_is_peak_frame_and_thumbnail_smaller(tmp_path: Path) -> None:
    files = write_clip(tmp_path)
    snap = imread(rel(tmp_path, files.snapshot_path))
    thumb = imread(rel(tmp_path, files.thumbnail_path))
    assert snap.shape == (240, 320, 3)
    assert thumb.shape[1] <= snap.shape[1]
    expected = frame(30)
    # JPEG is lossy: compare the square's position, which is unique to the peak frame.
    assert np.abs(snap.astype(int) - expected.astype(int)).mean() < 4
    paths = (files.clip_path, files.snapshot_path, files.thumbnail_path)
    assert files.media_bytes == sum(rel(tmp_path, p).stat().st_size for p in paths)


def test_thumbnail_width_is_configured(tmp_path: Path) -> None:
    files = write_clip(tmp_path, thumbnail_width=160)
    thumb = imread(rel(tmp_path, files.thumbnail_path))
    assert thumb.shape[:2] == (120, 160)


def test_resolution_change_inside_a_clip_is_scaled(tmp_path: Path) -> None:
    writer = ClipWriter(tmp_path, "cam-a", "k", START, fps=5, options=ClipOptions())
    for i in range(5):
        writer.add(frame(i), START + i / 5)
    for i in range(5, 10):
        writer.add(frame(i, 641, 481), START + i / 5)  # odd sizes too
    files = writer.close()
    with av.open(str(tmp_path / files.clip_path)) as container:  # type: ignore[operator]
        frames = [f for f in container.decode(video=0)]
    assert len(frames) == 10
    assert {(f.width, f.height) for f in frames} == {(320, 240)}


def test_timestamps_going_backwards_still_make_a_valid_clip(tmp_path: Path) -> None:
    writer = ClipWriter(tmp_path, "cam-a", "k", START, fps=5, options=ClipOptions())
    for ts in (0.0, 0.2, 0.4, 0.1, 0.1, 0.6):
        writer.add(frame(int(ts * 10)), START + ts)
    files = writer.close()
    with av.open(str(tmp_path / files.clip_path)) as container:  # type: ignore[operator]
        pts = [int(f.pts or 0) for f in container.decode(video=0)]
    assert len(pts) == 6 and pts == sorted(pts)


def test_odd_frame_size_is_cropped_to_even(tmp_path: Path) -> None:
    writer = ClipWriter(tmp_path, "cam-a", "k", START, fps=5, options=ClipOptions())
    writer.add(frame(0, 321, 241), START)
    files = writer.close()
    with av.open(str(tmp_path / files.clip_path)) as container:  # type: ignore[operator]
        assert (container.streams.video[0].width, container.streams.video[0].height) == (320, 240)


def test_disk_nearly_full_refuses_new_clip_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(DiskFullError, match="disque presque plein"):
        ClipWriter(tmp_path, "cam-a", "k", START, fps=5, options=ClipOptions(min_free_bytes=1 << 62))
    assert list(tmp_path.rglob("*")) == []
    with pytest.raises(DiskFullError):
        check_disk(tmp_path / "not" / "yet" / "there", 1 << 62)


def test_empty_clip_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    writer = ClipWriter(tmp_path, "cam-a", "k", START, fps=5, options=ClipOptions())
    with pytest.raises(ClipError, match="sans image"):
        writer.close()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_undecodable_pre_roll_jpeg_is_skipped(tmp_path: Path) -> None:
    writer = ClipWriter(tmp_path, "cam-a", "k", START, fps=5, options=ClipOptions())
    writer.add_jpeg(b"\xff\xd8 not really a jpeg", START)
    writer.add_jpeg(b"", START + 0.1)
    writer.add(frame(1), START + 0.2, 0.5)
    assert writer.frames == 1
    files = writer.close()
    assert files.clip_path is not None and files.media_error is None


def test_event_key_is_utc_and_sortable() -> None:
    assert event_key(START + 1.234, 2) == "20261128T080001234Z-p2"
    assert event_key(START) < event_key(START + 0.001)


def test_jpeg_bomb_is_refused_before_decoding() -> None:
    from camera.clips import decode_jpeg, jpeg_size

    small = encode_jpeg(np.full((16, 24, 3), 100, np.uint8), 80)
    assert jpeg_size(small) == (24, 16)
    assert decode_jpeg(small) is not None
    sof = small.index(b"\xff\xc0")
    # Same few bytes, but the header now claims 60000 x 60000 pixels (10 GB decoded).
    bomb = small[: sof + 5] + (60000).to_bytes(2, "big") * 2 + small[sof + 9 :]
    assert jpeg_size(bomb) == (60000, 60000)
    assert decode_jpeg(bomb) is None
    assert decode_jpeg(b"\xff\xd8\xff") is None
    assert decode_jpeg(b"GIF89a...") is None
