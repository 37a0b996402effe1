"""One reconnecting LISTEN loop for every service that waits on NOTIFY, with its heartbeat.

The loop connects, LISTENs, lets its handler catch up (notifications sent while nobody listened
are lost), then waits for a notification or the handler's timeout and hands over what came. Any
failure closes the connection and reconnects with a doubling delay; the failure is logged once,
and the recovery once, so a database that is away for an hour writes two lines, not thousands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import psycopg
from psycopg import sql

from vigie.heartbeat import Heartbeat

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class ListenHandler(Protocol):
    """What a ListenLoop calls: on a new connection, and after each wait."""

    def on_connect(self, conn: Conn) -> None:
        """Catch up on whatever was committed while nobody listened."""

    def timeout_s(self) -> float:
        """How long to wait for the next notification before on_wake([]) anyway."""

    def on_wake(self, conn: Conn, payloads: list[str]) -> None:
        """Work on these notifications (empty: the timeout passed)."""


class ListenLoop:
    """LISTEN on channels until stopped; `run()` never raises, and beats while it waits or works."""

    def __init__(
        self,
        label: str,
        connect: Callable[[], Conn],
        channels: Sequence[str],
        handler: ListenHandler,
        *,
        stop_event: threading.Event | None = None,
        heartbeat: Heartbeat | None = None,
        max_backoff_s: float = 10.0,
        slice_s: float = 0.5,
    ) -> None:
        self.label = label
        self.connect = connect
        self.channels = tuple(channels)
        self.handler = handler
        self.stop_event = stop_event or threading.Event()
        self.heartbeat = heartbeat
        self.max_backoff_s = max_backoff_s
        # Waits are cut in slices of this length, so that stop() is prompt and the heartbeat
        # shows a loop that is waiting, not stuck.
        self.slice_s = slice_s
        self.healthy = False

    def stop(self) -> None:
        """Ask run() to return (within slice_s, or when the pass in progress ends)."""
        self.stop_event.set()

    def _beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.beat()

    def run(self) -> None:
        """Until stopped: (re)connect with backoff, LISTEN, catch up, then wait and work."""
        delay = 0.5
        failing = False
        while not self.stop_event.is_set():
            self._beat()
            try:
                with self.connect() as conn:
                    for channel in self.channels:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.handler.on_connect(conn)
                    if failing:
                        log.info("%s recovered", self.label)
                    failing, delay, self.healthy = False, 0.5, True
                    while not self.stop_event.is_set():
                        payloads = self._wait(conn, self.handler.timeout_s())
                        if self.stop_event.is_set():
                            break
                        self._beat()
                        self.handler.on_wake(conn, payloads)
            except Exception as exc:  # noqa: BLE001  # the loop must outlive any failure
                self.healthy = False
                if not failing:
                    # Never the URL: it may carry the database password.
                    log.error("%s failing: %s: %s", self.label, type(exc).__name__, str(exc)[:300])
                    failing = True
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        self.healthy = False

    def _sleep(self, seconds: float) -> None:
        """Wait out a reconnect delay; retrying is the loop's work, so it keeps beating."""
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set():
            self._beat()
            left = deadline - time.monotonic()
            if left <= 0 or self.stop_event.wait(min(left, self.slice_s)):
                return

    def _wait(self, conn: Conn, timeout: float) -> list[str]:
        """Payloads of the first notification and of all already queued behind it (a burst of
        wake-ups makes one pass), or [] after timeout."""
        deadline = time.monotonic() + max(timeout, 0.0)
        payloads: list[str] = []
        while not self.stop_event.is_set():
            self._beat()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            payloads += [n.payload for n in conn.notifies(timeout=min(left, self.slice_s), stop_after=1)]
            if payloads:
                payloads += [n.payload for n in conn.notifies(timeout=0.001)]
                break
        return payloads
