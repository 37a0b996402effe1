"""A live MJPEG webcam: multipart/x-mixed-replace on /stream, one JPEG on /snapshot.jpg."""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from simulators.webcam.scene import Scene

log = logging.getLogger(__name__)
BOUNDARY = "vigieframe"


class FrameProducer:
    """Renders the looping scenario in real time and keeps the latest JPEG for every client."""

    def __init__(self, scene: Scene, quality: int = 80) -> None:
        self._scene = scene
        self._quality = quality
        self._cond = threading.Condition()
        self._jpeg = b""
        self._seq = 0
        self.stop = threading.Event()

    def latest(self, after: int, timeout: float = 5.0) -> tuple[int, bytes]:
        """Wait for a frame newer than `after`; return (sequence, jpeg)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self.stop.is_set(), timeout)
            return self._seq, self._jpeg

    def run(self) -> None:
        """Render frames at the scenario's fps until stop is set, looping forever."""
        period = 1.0 / self._scene.config.fps
        index = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            ok, buf = cv2.imencode(
                ".jpg", self._scene.render(index), [cv2.IMWRITE_JPEG_QUALITY, self._quality]
            )
            if ok:
                with self._cond:
                    self._jpeg = buf.tobytes()
                    self._seq += 1
                    self._cond.notify_all()
            index += 1
            next_at += period
            # Fall behind gracefully: never try to catch up with a burst of frames.
            next_at = max(next_at, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        with self._cond:
            self._cond.notify_all()


def _handler(producer: FrameProducer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

        def do_GET(self) -> None:
            if self.path.startswith("/snapshot"):
                _, jpeg = producer.latest(-1)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(jpeg)))
                self.end_headers()
                self.wfile.write(jpeg)
                return
            if not self.path.startswith("/stream"):
                self.send_error(404, "use /stream or /snapshot.jpg")
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            seq = 0
            try:
                while not producer.stop.is_set():
                    seq, jpeg = producer.latest(seq)
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    )
                    self.wfile.write(jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away

    return Handler


class MjpegServer:
    """The HTTP server plus its producer thread; start(), then stop() (idempotent)."""

    def __init__(self, scene: Scene, host: str = "127.0.0.1", port: int = 0) -> None:
        self.producer = FrameProducer(scene)
        self.httpd = ThreadingHTTPServer((host, port), _handler(self.producer))
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """The stream URL."""
        return f"http://127.0.0.1:{self.port}/stream"

    def start(self) -> MjpegServer:
        """Start rendering and serving in background threads."""
        for target in (self.producer.run, self.httpd.serve_forever):
            th = threading.Thread(target=target, daemon=True, name="webcam-sim")
            th.start()
            self._threads.append(th)
        return self

    def stop(self) -> None:
        """Stop serving and rendering; open streams end."""
        self.producer.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for th in self._threads:
            th.join(timeout=5)
