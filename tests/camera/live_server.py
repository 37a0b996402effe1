"""A real HTTP server on 127.0.0.1 that speaks MJPEG (multipart/x-mixed-replace) and snapshots.

Frames are synthetic: a textured background where a bright square crosses the view during
chosen stream-time windows. The server can be stopped mid-stream and restarted on the same port,
change resolution, or send hostile parts, for the worker's live tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "vigieframe"


@dataclass
class Scene:
    """What the camera sees at stream time t (seconds since the server started)."""

    width: int = 320
    height: int = 240
    # Stream-time windows in which a square crosses the frame from left to right.
    crossings: tuple[tuple[float, float], ...] = ()
    # From this stream time on, frames have this other size (a camera changing resolution).
    resize_at: float | None = None
    resize_to: tuple[int, int] = (480, 360)
    _backgrounds: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def size_at(self, t: float) -> tuple[int, int]:
        if self.resize_at is not None and t >= self.resize_at:
            return self.resize_to
        return (self.width, self.height)

    def _background(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self._backgrounds:
            rng = np.random.default_rng(7)
            w, h = size
            base = rng.integers(60, 110, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
            big = cv2.resize(base, (w, h), interpolation=cv2.INTER_NEAREST)
            self._backgrounds[size] = cv2.GaussianBlur(big, (5, 5), 0)
        return self._backgrounds[size]

    def render(self, t: float) -> np.ndarray:
        w, h = self.size_at(t)
        img = self._background((w, h)).copy()
        for start, end in self.crossings:
            if start <= t <= end:
                side = max(8, h // 4)
                x = int((t - start) / max(end - start, 1e-6) * (w - side))
                y = h // 2 - side // 2
                img[y : y + side, x : x + side] = (230, 240, 250)
        return img


class _Handler(BaseHTTPRequestHandler):
    server: LiveServer._Http

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        live = self.server.owner
        if self.path.startswith("/snapshot"):
            t = time.monotonic() - live.started
            ok, buf = cv2.imencode(".jpg", live.scene.render(t))
            assert ok
            data = buf.tobytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if live.hook is not None and live.hook(self):
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.end_headers()
        period = 1.0 / live.fps
        while not live.closing.is_set():
            t = time.monotonic() - live.started
            ok, buf = cv2.imencode(".jpg", live.scene.render(t), [cv2.IMWRITE_JPEG_QUALITY, 85])
            assert ok
            data = buf.tobytes()
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
            if live.send_timestamps:
                head += f"X-Timestamp: {live.epoch + t:.3f}\r\n"
            try:
                self.wfile.write(head.encode() + b"\r\n" + data + b"\r\n")
                self.wfile.flush()
            except OSError:
                return
            live.frames_sent += 1
            live.closing.wait(period)


class LiveServer:
    """Start/stop/restart an MJPEG server on a fixed loopback port."""

    class _Http(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        owner: LiveServer

    def __init__(
        self,
        scene: Scene,
        *,
        fps: float = 10.0,
        port: int = 0,
        send_timestamps: bool = False,
        hook: Callable[[BaseHTTPRequestHandler], bool] | None = None,
    ) -> None:
        self.scene = scene
        self.fps = fps
        self.port = port
        self.send_timestamps = send_timestamps
        self.hook = hook
        self.epoch = time.time()
        self.started = time.monotonic()
        self.closing = threading.Event()
        self.frames_sent = 0
        self._http: LiveServer._Http | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream"

    @property
    def snapshot_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/snapshot.jpg"

    def start(self) -> LiveServer:
        self.closing.clear()
        self._http = self._Http(("127.0.0.1", self.port), _Handler)
        self._http.owner = self
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open stream (as a camera losing power)."""
        self.closing.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)


class SilentServer:
    """A socket that accepts connections and never answers (a camera that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream"

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()
