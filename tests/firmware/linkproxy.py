"""A TCP proxy between the gauge and the real Mosquitto that the gauge's world can cut.

The simulated board (mpy/simboard.py) tells it, on a control port, when its storm's link
outages start and end, so the cuts fall at chosen moments of simulated time:
- `cut`: every connection is closed and new ones are closed at once (the link is gone);
- `noack`: everything passes except the broker's PUBACKs of readings (PUBLISH to `…/up`): the
  broker stores them, the gauge never hears so, and sends them again later;
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
        self.junk = b""  # what "junk" mode answers every connection with, instead of the broker
        self.modes_seen: list[str] = []
        self.dropped_acks = 0
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
            if self.mode == "cut":
                down.close()
                continue
            if self.mode == "junk":
                threading.Thread(target=self._answer_junk, args=(down,), daemon=True).start()
                continue
            up = socket.create_connection(self.upstream)
            with self._lock:
                self._conns += [down, up]
            readings: set[int] = set()  # packet ids of the gauge's PUBLISHes to …/up
            threading.Thread(target=self._pump, args=(down, up, False, readings), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True, readings), daemon=True).start()

    def _answer_junk(self, down: socket.socket) -> None:
        answer_after_reading(down, self.junk)

    def _pump(self, src: socket.socket, dst: socket.socket, to_device: bool, readings: set[int]) -> None:
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                while (packet := _split(buf)) is not None:
                    frame, buf = packet
                    kind = frame[0] >> 4
                    start = _body_start(frame)
                    if not to_device and kind == 3 and frame[0] & 0x06:
                        topic_len = int.from_bytes(frame[start : start + 2], "big")
                        topic = frame[start + 2 : start + 2 + topic_len]
                        pid = int.from_bytes(frame[start + 2 + topic_len : start + 4 + topic_len], "big")
                        if topic.endswith(b"/up"):
                            readings.add(pid)
                    if to_device and kind == 4 and self.mode == "noack":
                        if int.from_bytes(frame[start : start + 2], "big") in readings:
                            self.dropped_acks += 1
                            continue
                    dst.sendall(frame)
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
        if mode not in ("up", "cut", "noack", "junk"):
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


def _split(buf: bytes) -> tuple[bytes, bytes] | None:
    """One whole MQTT packet off the front of buf, or None if it is not all there yet."""
    if len(buf) < 2:
        return None
    size, mult, i = 0, 1, 1
    while True:
        if i >= len(buf):
            return None
        byte = buf[i]
        size += (byte & 0x7F) * mult
        mult *= 128
        i += 1
        if not byte & 0x80:
            break
    if len(buf) < i + size:
        return None
    return buf[: i + size], buf[i + size :]


def _body_start(frame: bytes) -> int:
    i = 1
    while frame[i] & 0x80:
        i += 1
    return i + 1


def answer_after_reading(conn: socket.socket, reply: bytes) -> None:
    """Read all the gauge writes first (umqtt writes a CONNECT in pieces, and a pipelined one
    has the status and a reading behind it), then send `reply` and close: closing after the
    first piece would fail the gauge's writes, not its read."""
    with conn:
        conn.settimeout(0.3)
        try:
            while conn.recv(4096):
                pass
        except TimeoutError:
            pass
        except OSError:
            return
        with contextlib.suppress(OSError):
            conn.sendall(reply)
