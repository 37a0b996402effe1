"""Camera source URLs: the scheme must match the kind, internal stream hosts are refused unless
allowed (vigie.outbound), and FFmpeg may open only the protocols of the source's kind."""

from __future__ import annotations

import base64
import functools
import http.server
import ipaddress
import threading
from pathlib import Path

import av
import pytest

from camera.errors import CameraInputError, SourceError
from camera.sources import (
    AvSource,
    MjpegSource,
    SnapshotSource,
    SourceOptions,
    open_container,
    open_source,
)
from camera.store import validate_camera
from tests.camera.factories import camera
from tests.camera.live_server import LiveServer, Scene
from tests.camera.test_sources import make_video
from tests.support import free_port

DEFAULT = SourceOptions(timeout_s=1.0, realtime_files=False)  # allow_private False, as a site
ALLOWED = SourceOptions(timeout_s=1.0, realtime_files=False, allow_private=True)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("rtsp", "file:/etc/shadow"),
        ("rtsp", "http://cam.example.org/stream"),
        ("rtsp", "/var/lib/vigie/video.mp4"),
        ("mjpeg", "rtsp://cam.example.org/live"),
        ("mjpeg", "file:///etc/passwd"),
        ("snapshot", "ftp://cam.example.org/snap.jpg"),
        ("file", "http://cam.example.org/stream"),
        ("file", "concat:/a.mp4|/b.mp4"),
        ("file", "rtsp://cam.example.org/live"),
    ],
)
def test_a_scheme_that_does_not_fit_the_kind_is_refused(kind: str, url: str) -> None:
    with pytest.raises(CameraInputError, match="refusé pour une source"):
        validate_camera(camera("cam-x", url=url, source_kind=kind))
    with pytest.raises(SourceError, match="refusé pour une source"):
        open_source(kind, url, ALLOWED)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("rtsp", "rtsp://cam.example.org/live"),
        ("rtsp", "rtsps://cam.example.org/live"),
        ("mjpeg", "https://cam.example.org/stream"),
        ("snapshot", "http://cam.example.org/snap.jpg"),
        ("file", "/var/lib/vigie/video.mp4"),
        ("file", "file:/var/lib/vigie/video.mp4"),
    ],
)
def test_fitting_schemes_are_accepted(kind: str, url: str) -> None:
    validate_camera(camera("cam-x", url=url, source_kind=kind))


def test_internal_stream_hosts_are_refused_unless_allowed() -> None:
    live = LiveServer(Scene()).start()
    try:
        for source in (
            MjpegSource(live.url, DEFAULT),
            SnapshotSource(live.snapshot_url, DEFAULT),
            AvSource(f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/s", DEFAULT),
            AvSource("rtsp://169.254.169.254/s", DEFAULT),
        ):
            with pytest.raises(SourceError, match="destination refusée") as err:
                next(iter(source.frames()))
            assert "hunter2" not in str(err.value)
        assert live.frames_sent == 0  # nothing connected
        # Allowed by the site (the demo's simulated webcam): frames come.
        assert next(iter(MjpegSource(live.url, ALLOWED).frames())).image.size > 0
        # Or only the cameras' network: loopback here, while the metadata service stays shut.
        lan = SourceOptions(timeout_s=1.0, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
        assert next(iter(SnapshotSource(live.snapshot_url, lan).frames())).image.size > 0
        with pytest.raises(SourceError, match="destination refusée"):
            next(iter(AvSource("rtsp://169.254.169.254/s", lan).frames()))
    finally:
        live.stop()


def test_ffmpeg_opens_only_the_protocols_of_the_kind(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    make_video(video, n=3)
    # The file opens as a file...
    assert len(list(AvSource(f"file:{video}", ALLOWED, live=False).frames())) == 3
    # ...but a live source refuses it at its URL check (scheme of the kind)...
    with pytest.raises(SourceError, match="refusé pour une source rtsp"):
        next(iter(AvSource(f"file:{video}", ALLOWED, live=True).frames()))
    # ...and even past that check, FFmpeg's protocol whitelist of a live stream refuses 'file'
    # (EINVAL), where the same options without it open the file.
    with pytest.raises(SourceError, match="Invalid argument"):
        open_container(f"file:{video}", live=True, timeout_s=2)
    with av.open(f"file:{video}", options={"rtsp_transport": "tcp"}) as control:
        assert control.streams.video


def test_a_stream_that_needs_another_protocol_does_not_open(tmp_path: Path) -> None:
    """The same video, reachable over HTTP, inside a data: URI and through concat: and
    subfile:: each opens without the whitelist and fails with the live stream's one."""
    video = tmp_path / "v.mp4"
    make_video(video, n=3)
    data = base64.b64encode(video.read_bytes()).decode()
    served = _serve_file(video)
    try:
        urls = [
            f"http://127.0.0.1:{served.server_port}/v.mp4",
            f"data:video/mp4;base64,{data}",
            f"concat:{video}",
            f"subfile,,start,0,end,0,,:{video}",
        ]
        for url in urls:
            with av.open(url, timeout=(2, 2)) as control:  # the protocol itself works here
                assert control.streams.video, url
            with pytest.raises(SourceError, match=r"ouverture de .* impossible"):
                open_container(url, live=True, timeout_s=2)
            # A local file source is no way round it either.
            with pytest.raises(SourceError, match="impossible"):
                open_container(url, live=False, timeout_s=2)
    finally:
        served.shutdown()
        served.server_close()


def _serve_file(path: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
