"""The chaos suite's userspace fault proxy (bench/fault_proxy.py), on a real loopback echo server."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from bench.fault_proxy import FaultProxy
from tests.support import free_port


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    p = FaultProxy(server.server_address[1], free_port()).start()
    yield p
    p.stop()
    server.shutdown()
    server.server_close()


def _roundtrip(sock: socket.socket, payload: bytes) -> tuple[bytes, float]:
    t0 = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got, time.monotonic() - t0


def test_latency_is_added_each_way_and_bytes_arrive_intact(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        _, direct = _roundtrip(s, b"warm-up")
        proxy.faults.latency_s = 0.3
        got, took = _roundtrip(s, b"x" * 1000)
    assert got == b"x" * 1000
    assert direct < 0.3
    assert took >= 0.6  # 0.3 s to the server, 0.3 s back


def test_a_partition_holds_bytes_and_delivers_them_in_order_once_healed(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        proxy.partition(True)
        for i in range(5):
            s.sendall(f"{i};".encode())
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(100)
        proxy.partition(False)
        s.settimeout(10)
        got = b""
        while len(got) < 10:
            got += s.recv(100)
    assert got == b"0;1;2;3;4;"


def test_loss_delays_like_a_retransmission_and_reset_aborts(proxy: FaultProxy) -> None:
    proxy.faults.loss = 1.0
    proxy.faults.retransmit_s = (0.4, 0.4)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        got, took = _roundtrip(s, b"lost once")
    assert got == b"lost once" and took >= 0.8
    proxy.faults.loss = 0.0
    proxy.faults.reset = 1.0
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"reset me")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert data == b""
    assert proxy.resets == 1
