"""The shared LISTEN loop: wakes on NOTIFY, reconnects after a lost connection, and its heartbeat
stops when its handler blocks (the alerts tests cover the three services that use it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.support import wait_for
from vigie.db import connect
from vigie.heartbeat import Heartbeat
from vigie.listen import ListenLoop

Conn = psycopg.Connection[Any]
APP = "vigie-test-listen"


class Recorder:
    """A handler that records what the loop hands it, and can be made to block in on_wake."""

    def __init__(self) -> None:
        self.connects = 0
        self.payloads: list[str] = []
        self.wakes = 0
        self.gate = threading.Event()
        self.gate.set()

    def on_connect(self, conn: Conn) -> None:
        self.connects += 1

    def timeout_s(self) -> float:
        return 0.2

    def on_wake(self, conn: Conn, payloads: list[str]) -> None:
        self.wakes += 1
        self.payloads += payloads
        self.gate.wait()  # cleared by a test: the pass hangs, as on a lock held for ever


@contextmanager
def listening(database_url: str, handler: Recorder, hb: Heartbeat) -> Iterator[ListenLoop]:
    loop = ListenLoop(
        "test listener",
        lambda: connect(database_url, application_name=APP, autocommit=True),
        ["vigie_test_a", "vigie_test_b"],
        handler,
        heartbeat=hb,
        max_backoff_s=0.2,
        slice_s=0.1,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        handler.gate.set()
        loop.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_notifications_on_every_channel_wake_the_handler(db: Conn, database_url: str) -> None:
    handler = Recorder()
    with listening(database_url, handler, Heartbeat("test", "listen", 1.0)) as loop:
        wait_for(lambda: loop.healthy and handler.connects == 1, timeout=10)
        db.execute("SELECT pg_notify('vigie_test_a', 'one'), pg_notify('vigie_test_b', 'two')")
        wait_for(lambda: sorted(handler.payloads) == ["one", "two"], timeout=5)


def test_a_lost_connection_is_reopened_and_logged_once(
    db: Conn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "vigie.listen")
    handler = Recorder()
    with listening(database_url, handler, Heartbeat("test", "listen", 1.0)) as loop:
        wait_for(lambda: handler.connects == 1, timeout=10)
        for _ in range(2):
            seen = handler.connects
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                (APP,),
            )
            def reconnected(seen: int = seen) -> bool:
                return handler.connects == seen + 1 and loop.healthy

            wait_for(reconnected, timeout=10)
        db.execute("SELECT pg_notify('vigie_test_a', 'after')")
        wait_for(lambda: "after" in handler.payloads, timeout=5)
    assert caplog.text.count("test listener failing") == 2
    assert caplog.text.count("test listener recovered") == 2


def test_heartbeat_stops_while_the_handler_blocks(db: Conn, database_url: str) -> None:
    handler = Recorder()
    hb = Heartbeat("test", "listen", 0.5)
    with listening(database_url, handler, hb):
        wait_for(lambda: handler.wakes >= 2, timeout=10)
        assert not hb.stalled  # waiting for NOTIFY is alive: it beats every slice
        handler.gate.clear()
        wait_for(lambda: hb.stalled, timeout=5)
        handler.gate.set()
        wait_for(lambda: not hb.stalled, timeout=5)
