"""A userspace TCP fault proxy for `make chaos`: this kernel has no netem qdisc and no iptables.

Sits between clients (gauges, services) and a server (the broker) and degrades the stream as a
rural backhaul would, seen from TCP: latency with jitter (order kept, as TCP keeps it), loss
as a peer sees it (a chunk held back for a retransmission delay; now and then a reset), and
partitions, during which bytes are held, not dropped (TCP retransmits until it gives up), and
delivered when the link heals. `flap(period_s)` toggles partitions. bench/chaos.py puts one on
each link that crosses a network namespace: gauges -> broker and services -> broker.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass


@dataclass
class Faults:
    """What the link does now; changed at run time by the chaos harness."""

    latency_s: float = 0.0
    jitter_s: float = 0.0
    # Chance per chunk (one read() of the stream, up to 64 KiB: an MQTT packet or a few) of a
    # retransmission delay. A byte stream cannot lose a chunk without corrupting it, so "loss" is
    # what TCP's peer sees of a lost segment: that data arriving late, the rest behind it.
    loss: float = 0.0
    retransmit_s: tuple[float, float] = (0.2, 1.0)
    reset: float = 0.0  # chance per chunk that the connection is reset
    partitioned: bool = False


class FaultProxy:
    """Listen on listen_host:port, forward to target; run in its own thread and event loop.

    listen_host: the root namespace's end of a veth when the clients run in a namespace."""

    def __init__(
        self,
        target_port: int,
        port: int,
        target_host: str = "127.0.0.1",
        seed: int = 0,
        listen_host: str = "127.0.0.1",
    ) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.listen_host = listen_host
        self.faults = Faults()
        self.rng = random.Random(seed)
        self.resets = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control, from any thread -------------------------------------------------------------
    def partition(self, on: bool) -> None:
        """Hold every byte (on) or deliver the backlog and go on (off)."""
        self.faults.partitioned = on

    def flap(self, period_s: float, until: float) -> threading.Thread:
        """Toggle the partition every period_s until the monotonic time `until`; ends healed."""

        def run() -> None:
            on = True
            while time.monotonic() < until:
                self.partition(on)
                on = not on
                time.sleep(period_s)
            self.partition(False)

        t = threading.Thread(target=run, name="fault-proxy-flap", daemon=True)
        t.start()
        return t

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- the event loop -------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, self.listen_host, self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for w in list(self._writers):  # open connections end with the proxy
                w.transport.abort()
            await asyncio.sleep(0)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_w)
        try:
            await asyncio.gather(
                self._pipe(reader, up_w), self._pipe(up_r, writer), return_exceptions=True
            )
        finally:
            for w in (writer, up_w):
                w.close()
                self._writers.discard(w)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Copy src to dst, chunk by chunk, in order, each chunk no earlier than its delay."""
        last_due = 0.0
        loop = asyncio.get_running_loop()
        while True:
            chunk = await src.read(65536)
            if not chunk:
                break
            f = self.faults
            if f.reset and self.rng.random() < f.reset:
                self.resets += 1
                dst.transport.abort()
                return
            delay = max(0.0, f.latency_s + self.rng.uniform(-f.jitter_s, f.jitter_s))
            if f.loss and self.rng.random() < f.loss:
                delay += self.rng.uniform(*f.retransmit_s)
            due = max(last_due, loop.time() + delay)  # TCP never reorders
            last_due = due
            await asyncio.sleep(max(0.0, due - loop.time()))
            # partition() is called from other threads, where an asyncio.Event cannot be set
            # safely; a 50 ms poll is well below the faults' own time scale.
            while self.faults.partitioned:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            dst.write(chunk)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
