"""Heartbeats reach the real database, go stale when their loop stops, and prove paho's thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from tests.support import Broker, wait_for
from vigie.heartbeat import Heartbeat, HeartbeatReporter, read_heartbeats
from vigie.mqtt import NetworkProbe, connect_client, make_client, parse_mqtt_url
from vigie.systemd import SystemdWatchdog

Conn = psycopg.Connection[tuple[object, ...]]


def _beats(db: Conn, reporter: HeartbeatReporter) -> dict[str, float]:
    return {
        b.loop: b.age_s for b in read_heartbeats(db, host=reporter.host, pids=[reporter.pid])
    }


def test_heartbeat_age_and_stall_follow_the_clock() -> None:
    now = [100.0]
    hb = Heartbeat("ingest", "writer", 5.0, clock=lambda: now[0])
    now[0] = 104.0
    assert hb.age_s() == 4.0 and not hb.stalled
    now[0] = 105.5
    assert hb.stalled
    hb.beat()
    assert hb.age_s() == 0.0 and not hb.stalled


def test_a_loop_that_stops_beating_shows_stalled_in_the_database(db: Conn, database_url: str) -> None:
    reporter = HeartbeatReporter(database_url, "ingest", report_s=0.1)
    busy = reporter.register("writer", 1.0)
    stuck = reporter.register("mqtt", 1)  # an int limit beside a float one is stored alike
    stop = threading.Event()

    def work() -> None:
        while not stop.wait(0.05):
            busy.beat()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    reporter.start()
    try:
        wait_for(lambda: set(_beats(db, reporter)) == {"writer", "mqtt"}, timeout=5)
        # "mqtt" never beats again: its stored beat grows older than its 1 s limit.
        wait_for(lambda: {b.loop for b in read_heartbeats(db) if b.stalled} == {"mqtt"}, timeout=5)
        assert _beats(db, reporter)["writer"] < 1.0
        stuck.beat()
        wait_for(lambda: not any(b.stalled for b in read_heartbeats(db)), timeout=5)
        # A loop that ends on purpose is removed, not left to look stalled.
        reporter.unregister(stuck)
        wait_for(lambda: set(_beats(db, reporter)) == {"writer"}, timeout=5)
    finally:
        stop.set()
        reporter.stop()
    assert read_heartbeats(db) == []  # a clean stop leaves nothing that looks stalled


def test_rows_of_a_dead_process_are_forgotten_by_the_next_one(db: Conn, database_url: str) -> None:
    # A real process that is gone: its pid no longer runs on this host.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True, text=True)
    dead_pid = int(dead.stdout)
    ghost = HeartbeatReporter(database_url, "camera", report_s=1, pid=dead_pid)
    ghost.register("camera:ghost", 1.0)
    ghost.report_once()
    assert {b.pid for b in read_heartbeats(db)} == {dead_pid}
    live = HeartbeatReporter(database_url, "camera", report_s=1)
    live.register("camera:live", 1.0)
    live.report_once()
    assert {(b.pid, b.loop) for b in read_heartbeats(db)} == {(os.getpid(), "camera:live")}
    live.stop()
    ghost.stop()


def test_database_outage_is_retried_without_ending_the_reporter(
    db: Conn, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = HeartbeatReporter(database_url, "alerts", report_s=0.1)
    reporter.register("engine", 5.0)
    reporter.start()
    try:
        wait_for(lambda: reporter.reports >= 1, timeout=5)
        # The server ends our connection (as a restart would): the reporter reconnects.
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'vigie-alerts-heartbeat' AND datname = current_database()"
        )
        seen = reporter.reports
        wait_for(lambda: reporter.reports >= seen + 3, timeout=10)
    finally:
        reporter.stop()
    assert caplog.text.count("heartbeats cannot be reported") <= 1


def test_network_probe_beats_only_while_paho_thread_runs(broker: Broker) -> None:
    # The probe is answered by the broker and read by paho's network thread: once that thread
    # is gone (as when an exception leaves a callback), the beats stop although the process runs.
    address = parse_mqtt_url(broker.url("vigie-ingest"))
    client = make_client(address, f"probe-{uuid.uuid4().hex[:8]}")
    beats: list[str] = []
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    probe = NetworkProbe(
        client, "vigie/v1/liveness/probe-test", lambda: beats.append(threading.current_thread().name)
    )
    connect_client(client, address)
    client.loop_start()
    try:
        assert connected.wait(10)
        for _ in range(3):
            probe.probe()
        wait_for(lambda: len(beats) >= 3, timeout=5)
        network_thread = beats[0]
        assert network_thread != threading.current_thread().name  # beaten by paho's own thread
    finally:
        client.loop_stop()
    before = len(beats)
    probe.probe()  # the UNSUBSCRIBE still leaves, but nobody reads its UNSUBACK
    with pytest.raises(AssertionError):
        wait_for(lambda: len(beats) > before, timeout=1.5)
    client.disconnect()
    probe.probe()  # disconnected, and the thread it last saw has ended: still no beat
    assert len(beats) == before
    assert isinstance(client, mqtt.Client)


def test_systemd_watchdog_is_pinged_only_while_no_loop_is_stalled(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd's side, for real: a datagram socket at NOTIFY_SOCKET, as a unit with WatchdogSec=.
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(0.05)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "400000")
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        reporter = HeartbeatReporter(database_url, "ingest", report_s=5)
        assert reporter.watchdog is not None and reporter.watchdog.interval_s == 0.4
        loop = reporter.register("writer", 0.5)

        def pings(seconds: float) -> list[bytes]:
            got, deadline = [], time.monotonic() + seconds
            while time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    got.append(server.recv(64))
            return got

        reporter.start()
        try:
            beating = threading.Event()
            beating.set()

            def work() -> None:
                while not reporter.stop_event.wait(0.05):
                    if beating.is_set():
                        loop.beat()

            threading.Thread(target=work, daemon=True).start()
            # Every half interval at least (0.2 s): about 5 in a second.
            assert pings(1.0).count(b"WATCHDOG=1") >= 4
            beating.clear()
            time.sleep(0.6)  # the loop is now stalled
            pings(0.1)  # those sent before it stalled, still queued in the socket
            assert pings(1.0) == []
            beating.set()
            assert b"WATCHDOG=1" in pings(1.0)
        finally:
            reporter.stop()


def test_systemd_watchdog_meant_for_another_process_is_left_alone() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    assert SystemdWatchdog.from_environ(env, pid=2) is None  # `vigie up`'s children inherit it
    assert SystemdWatchdog.from_environ({**env, "WATCHDOG_PID": "2"}, pid=2) is not None
    assert SystemdWatchdog.from_environ({"NOTIFY_SOCKET": "/run/x"}, pid=2) is None
    abstract = SystemdWatchdog.from_environ({**env, "NOTIFY_SOCKET": "@vigie"}, pid=1)
    assert abstract is not None and abstract.address == "\0vigie"
