"""Frame sources against real local servers and real files: MJPEG, snapshots, PyAV files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest

from camera.clips import encode_jpeg
from camera.errors import SourceError
from camera.sources import (
    AvSource,
    MjpegSource,
    MultipartParser,
    SnapshotSource,
    SourceOptions,
    open_source,
)
from tests.camera.live_server import LiveServer, Scene, SilentServer
from tests.support import free_port

# The test servers listen on loopback: allowed explicitly (vigie.outbound refuses it by default).
FAST = SourceOptions(
    timeout_s=1.0, max_part_bytes=1_000_000, snapshot_interval_s=0.2, realtime_files=False, allow_private=True
)


@pytest.fixture
def server() -> Iterator[LiveServer]:
    live = LiveServer(Scene(crossings=((0.0, 5.0),)), fps=20, send_timestamps=True).start()
    yield live
    live.stop()


def test_mjpeg_frames_keep_the_camera_timestamps(server: LiveServer) -> None:
    source = MjpegSource(server.url, FAST)
    frames = list(islice(source.frames(), 5))
    source.close()
    assert [f.image.shape for f in frames] == [(240, 320, 3)] * 5
    ts = [f.ts for f in frames]
    assert ts == sorted(ts)
    # X-Timestamp is the server's epoch + stream time, not the arrival time.
    assert server.epoch <= ts[0] <= server.epoch + 5
    gaps = np.diff(ts)
    assert np.all(gaps > 0.02) and np.all(gaps < 0.5)


def test_mjpeg_without_timestamps_uses_arrival_time() -> None:
    live = LiveServer(Scene(), fps=20).start()
    try:
        clock_values = iter(range(1000, 2000))
        source = MjpegSource(live.url, FAST, clock=lambda: float(next(clock_values)))
        frames = list(islice(source.frames(), 3))
        source.close()
    finally:
        live.stop()
    assert [f.ts for f in frames] == [1000.0, 1001.0, 1002.0]


def test_parser_splits_parts_with_and_without_length() -> None:
    jpeg = encode_jpeg(np.zeros((8, 8, 3), np.uint8), 80)
    stream = (
        b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: "
        + str(len(jpeg)).encode()
        + b"\r\n\r\n"
        + jpeg
        + b"\r\n--b\r\nContent-Type: image/jpeg\r\nX-Timestamp: 12.5\r\n\r\n"
        + jpeg
        + b"\r\n--b\r\n"
    )
    parser = MultipartParser(b"b", 10_000)
    parts: list[tuple[dict[str, str], bytes]] = []
    for i in range(0, len(stream), 7):  # fed in small, awkward chunks
        parts.extend(parser.feed(stream[i : i + 7]))
    assert [body for _, body in parts] == [jpeg, jpeg]
    assert parts[1][0]["x-timestamp"] == "12.5"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"--b\r\nContent-Length: 99999999\r\n\r\n", "refusée"),
        (b"--b\r\nContent-Length: -4\r\n\r\n", "refusée"),
        (b"--b\r\nContent-Length: lots\r\n\r\n", "Content-Length invalide"),
        (b"--b\r\n" + b"X-Junk: " + b"a" * 10_000, "en-têtes"),
        (b"--b\r\n\r\n" + b"\xff" * 30_000, "refusée"),  # no length, no next boundary: endless
    ],
)
def test_parser_refuses_hostile_parts(data: bytes, message: str) -> None:
    parser = MultipartParser(b"b", 10_000)
    with pytest.raises(SourceError, match=message):
        list(parser.feed(data))


def _garbage_stream(handler: BaseHTTPRequestHandler) -> bool:
    handler.send_response(200)
    handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=--g")
    handler.end_headers()
    good = encode_jpeg(np.full((16, 16, 3), 90, np.uint8), 80)
    body = b""
    for i in range(40):
        part = good if i in (1, 3) else b"not an image at all"
        body += b"--g\r\nContent-Length: " + str(len(part)).encode() + b"\r\n\r\n" + part + b"\r\n"
    handler.wfile.write(body)
    return True


def test_mjpeg_skips_and_counts_bad_parts_then_gives_up() -> None:
    live = LiveServer(Scene(), hook=_garbage_stream).start()
    source = MjpegSource(live.url, FAST)
    got = []
    try:
        with pytest.raises(SourceError, match="ne sont pas des images JPEG"):
            for frame in source.frames():
                got.append(frame)
    finally:
        live.stop()
    # Parts 0 and 2 are skipped, then 20 bad ones in a row end the stream.
    assert len(got) == 2 and source.bad_parts == 22


def _json_page(handler: BaseHTTPRequestHandler) -> bool:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    handler.wfile.write(b"{}")
    return True


def test_not_a_mjpeg_stream_says_so() -> None:
    live = LiveServer(Scene(), hook=_json_page).start()
    try:
        with pytest.raises(SourceError, match="pas un flux MJPEG"):
            next(MjpegSource(live.url, FAST).frames())
    finally:
        live.stop()


def _not_found(handler: BaseHTTPRequestHandler) -> bool:
    handler.send_error(404)
    return True


def test_http_error_status_is_a_source_error() -> None:
    live = LiveServer(Scene(), hook=_not_found).start()
    try:
        with pytest.raises(SourceError, match="HTTP 404"):
            next(MjpegSource(live.url, FAST).frames())
    finally:
        live.stop()


def test_url_that_never_answers_times_out_clearly() -> None:
    silent = SilentServer()
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match="aucune donnée depuis 1 s"):
            next(MjpegSource(silent.url, FAST).frames())
        with pytest.raises(SourceError, match="aucune réponse en 1 s"):
            next(SnapshotSource(silent.url, FAST).frames())
    finally:
        silent.stop()
    assert time.monotonic() - started < 6


def test_credentials_never_appear_in_errors() -> None:
    url = f"http://admin:hunter2@127.0.0.1:{free_port()}/stream?token=abc123"
    with pytest.raises(SourceError) as err:
        next(MjpegSource(url, FAST).frames())
    assert "hunter2" not in str(err.value) and "abc123" not in str(err.value)
    assert "admin:***@" in str(err.value)
    with pytest.raises(SourceError) as err2:
        next(AvSource(f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/s", FAST).frames())
    assert "hunter2" not in str(err2.value)


def test_snapshot_polling(server: LiveServer) -> None:
    ticks = iter(float(t) for t in range(100, 200))
    source = SnapshotSource(server.snapshot_url, FAST, clock=lambda: next(ticks))
    frames = list(islice(source.frames(), 2))
    source.close()
    assert [f.image.shape for f in frames] == [(240, 320, 3)] * 2
    assert frames[1].ts > frames[0].ts


def _not_jpeg(handler: BaseHTTPRequestHandler) -> bool:
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.end_headers()
    handler.wfile.write(b"<html>login</html>")
    return True


def test_snapshot_that_is_not_an_image_is_refused() -> None:
    live = LiveServer(Scene(), hook=_not_jpeg).start()
    try:
        with pytest.raises(SourceError, match="pas une image JPEG"):
            next(SnapshotSource(live.url, FAST).frames())
    finally:
        live.stop()


def _huge(handler: BaseHTTPRequestHandler) -> bool:
    handler.send_response(200)
    handler.end_headers()
    handler.wfile.write(b"\xff" * 1_200_000)
    return True


def test_snapshot_oversized_is_refused() -> None:
    live = LiveServer(Scene(), hook=_huge).start()
    try:
        with pytest.raises(SourceError, match="refusée"):
            next(SnapshotSource(live.url, FAST).frames())
    finally:
        live.stop()


def make_video(path: Path, n: int = 12, fps: int = 10) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(n):
            img = np.full((120, 160, 3), 20 * (i % 10), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_file_frames_keep_the_file_timing(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    make_video(video)
    source = open_source("file", str(video), FAST, clock=lambda: 5000.0)
    frames = list(source.frames())
    assert len(frames) == 12
    assert frames[0].ts == 5000.0
    assert np.allclose(np.diff([f.ts for f in frames]), 0.1, atol=1e-3)


def test_file_is_paced_in_real_time_when_asked(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    make_video(video, n=6)
    opts = SourceOptions(timeout_s=1.0, realtime_files=True)
    started = time.monotonic()
    assert len(list(open_source("file", str(video), opts).frames())) == 6
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01garbage" * 500, "impossible|illisible|aucune image"),
        (b"", "impossible|illisible|aucune image"),
    ],
)
def test_corrupt_or_empty_file_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        list(open_source("file", str(bad), FAST).frames())


def test_truncated_file_gives_the_frames_it_has(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    make_video(video, n=30)
    data = video.read_bytes()
    # Cut a faststart-less MP4 in the middle of its data: the index is at the end, so it is lost.
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError):
        list(open_source("file", str(tmp_path / "cut.mp4"), FAST).frames())


def test_missing_file_and_unknown_kind() -> None:
    with pytest.raises(SourceError, match="impossible"):
        list(open_source("file", "/nonexistent/v.mp4", FAST).frames())
    with pytest.raises(SourceError, match="type de source inconnu"):
        open_source("ftp", "ftp://x", FAST)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1795852805.5", 1795852805.5),  # the camera's own time, kept
        ("0", 1795852800.0),  # a camera clock never set: arrival time
        ("99999999999999", 1795852800.0),  # far future
        ("nan", 1795852800.0),
        ("inf", 1795852800.0),
        ("12:00:00", 1795852800.0),
        ("9" * 5000, 1795852800.0),
    ],
)
def test_part_timestamp_out_of_range_falls_back_to_arrival(header: str, expected: float) -> None:
    from camera.sources import _part_ts

    assert _part_ts({"x-timestamp": header}, lambda: 1795852800.0) == expected
