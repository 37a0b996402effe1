"""A TCP proxy between the gauge and the real Mosquitto that the gauge's world can cut.

The simulated board (mpy/simboard.py) tells it, on a control port, when its storm's link
outages start and end, so the cuts fall at chosen moments of simulated time:
- `cut`: every connection is closed and new ones are closed at once (the link is gone);
- `noack`: the gauge's bytes still reach the broker but nothing comes back (PUBACKs lost), and
  new connections are closed at once: readings the broker stored are sent again later;
- `up`: forward normally.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class LinkProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "up"
        self.modes_seen: list[str] = []
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.control = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.control_port = self.control.getsockname()[1]
        self._threads = [
            threading.Thread(target=self._accept, daemon=True),
            threading.Thread(target=self._control, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                down, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode != "up":
                down.close()
                continue
            up = socket.create_connection(self.upstream)
            with self._lock:
                self._conns += [down, up]
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_device: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if to_device and self.mode == "noack":
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def _control(self) -> None:
        self.control.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.control.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                mode = conn.makefile().readline().strip()
                self.set_mode(mode)
                conn.sendall(b"ok\n")

    def set_mode(self, mode: str) -> None:
        if mode not in ("up", "cut", "noack"):
            return
        self.mode = mode
        self.modes_seen.append(mode)
        if mode == "cut":
            with self._lock:
                conns, self._conns = self._conns, []
            for s in conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._stop.set()
        self.set_mode("cut")
        self.listener.close()
        self.control.close()
