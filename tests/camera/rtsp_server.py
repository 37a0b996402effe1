"""A real RTSP server on 127.0.0.1 (GStreamer's gst-rtsp-server) for the live RTSP tests.

Two halves in one file:

- run as a script with the *system* Python, which has GStreamer's introspection bindings (the
  project's venv has no `gi`; scripts/setup.sh installs the Debian packages):

      /usr/bin/python3 tests/camera/rtsp_server.py --port 8554 --file clip.mp4 [--user u --password p]

  it serves the H.264 MP4 file at rtsp://127.0.0.1:PORT/cam, paced in real time, without
  re-encoding it (qtdemux ! h264parse ! rtph264pay), and prints `READY <port>` on stdout once
  it listens (`--port 0` takes a free port). Each client gets its own pipeline, so every
  connection starts at the beginning of the file; at the end of the file the stream ends (the
  test clips are longer than the tests). With `--user`/`--password` the server demands RTSP
  basic authentication.
- `RtspServer`, imported by the tests (from the venv): starts that script as a subprocess,
  waits for the ready line, and stops or restarts it on the same port.

This module imports only the standard library at the top, so that both Pythons can load it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
MOUNT = "/cam"
READY = "READY"
DEBIAN_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base"
    " gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)


# ---- the server (system Python + GStreamer) -------------------------------------------------


def _say(message: str) -> None:
    sys.stderr.write(f"rtsp_server: {message}\n")


def serve(port: int, clip: Path, user: str | None, password: str | None) -> int:
    """Serve clip at rtsp://127.0.0.1:port/cam until SIGTERM/SIGINT; the exit status."""
    try:
        # Imported by name: only the system Python has `gi`, and the venv's mypy cannot see it.
        gi: Any = importlib.import_module("gi")
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        GLib: Any = importlib.import_module("gi.repository.GLib")
        Gst: Any = importlib.import_module("gi.repository.Gst")
        GstRtspServer: Any = importlib.import_module("gi.repository.GstRtspServer")
    except (ImportError, ValueError) as exc:
        _say(
            f"GStreamer's RTSP server is not available to {sys.executable} ({exc});"
            f" install the Debian packages: {DEBIAN_PACKAGES} (scripts/setup.sh does)"
        )
        return 2
    if '"' in str(clip) or not clip.is_file():
        _say(f"no such clip (or a quote in its path): {clip}")
        return 2
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{clip}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(False)  # one pipeline per client: each connection starts at 0 s
    if user is not None:
        role = "camera-user"
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        _say(f"cannot listen on 127.0.0.1:{port}")
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    parent = os.getppid()

    def orphaned() -> bool:
        # The test process died without stopping us (a crash, SIGKILL): do not linger.
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.timeout_add(500, orphaned)
    sys.stdout.write(f"{READY} {server.get_bound_port()}\n")
    sys.stdout.flush()
    loop.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8554, help="0: any free port")
    parser.add_argument("--file", type=Path, required=True, help="H.264 MP4 clip to serve")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    return serve(args.port, args.file.resolve(), args.user, args.password)


# ---- the wrapper the tests use (venv Python) ------------------------------------------------


class RtspServerError(RuntimeError):
    """The RTSP server could not be started (a test failure, never a skip)."""


class RtspServer:
    """Start/stop/restart the RTSP server script on a fixed loopback port.

    The first start takes a free port (unless one is given); restart() and start() after
    stop() reuse it, as a camera that loses power and comes back at the same address.
    """

    def __init__(
        self,
        clip: Path,
        *,
        port: int = 0,
        user: str | None = None,
        password: str | None = None,
        start_timeout_s: float = 20.0,
        python: str = SYSTEM_PYTHON,
        log_dir: Path | None = None,
    ) -> None:
        self.clip = clip
        self.port = port
        self.user = user
        self.password = password
        self.start_timeout_s = start_timeout_s
        self.python = python
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        # The server's stderr, next to the clip unless told (pytest's tmp dirs are cleaned up).
        fd, name = tempfile.mkstemp(prefix="rtsp-server-", suffix=".log", dir=log_dir or clip.parent)
        os.close(fd)
        self.log_path = Path(name)

    @property
    def url(self) -> str:
        """The stream's URL, without credentials."""
        return f"rtsp://127.0.0.1:{self.port}{MOUNT}"

    def url_with(self, user: str, password: str) -> str:
        """The stream's URL with credentials in it, as cameras are configured."""
        return f"rtsp://{user}:{password}@127.0.0.1:{self.port}{MOUNT}"

    def log(self) -> str:
        """What the server wrote on stderr (GStreamer warnings, start-up errors)."""
        return self.log_path.read_text(errors="replace")

    def start(self) -> RtspServer:
        """Start the server; return once it listens or raise RtspServerError."""
        if self.proc is not None:
            raise RtspServerError("RTSP server already running")
        cmd = [self.python, str(Path(__file__).resolve()), "--port", str(self.port), "--file", str(self.clip)]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or ""]
        try:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env={**os.environ, "GST_DEBUG_NO_COLOR": "1"},
                )
        except OSError as exc:
            raise RtspServerError(
                f"cannot run {self.python} for the RTSP server ({exc}); install: {DEBIAN_PACKAGES}"
            ) from exc
        line = self._read_ready_line()
        if not line.startswith(READY + " "):
            code = self.proc.poll()
            self.stop()
            why = (
                f"exited with status {code}"
                if code is not None
                else f"not ready in {self.start_timeout_s:g} s"
            )
            raise RtspServerError(
                f"RTSP server on port {self.port} {why} (stdout {line!r}); its stderr:\n{self.log()[-3000:]}"
            )
        self.port = int(line.split()[1])
        self.starts += 1
        return self

    def _read_ready_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.start_timeout_s
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:  # the process ended before saying it was ready
                break
            buf += chunk
        return buf.decode(errors="replace").partition("\n")[0].strip()

    def stop(self) -> None:
        """Stop the server and drop every client connection (a camera losing power)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> RtspServer:
        """Stop, then start again on the same port."""
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> RtspServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
