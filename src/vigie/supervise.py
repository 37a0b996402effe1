"""Run `vigie` sub-commands as child processes: restart one that dies or stalls, stop all on SIGTERM.

`vigie up` runs a small site's services this way, and `vigie ingest` its extra processes
(ingest.processes), so the restart and shutdown rules are the same everywhere.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from vigie.db import APP_SUPERVISOR, close_quietly, connect
from vigie.heartbeat import LoopBeat, forget_process, read_heartbeats
from vigie.settings import LivenessSettings
from vigie.systemd import SystemdWatchdog

log = logging.getLogger(__name__)

_TICK_S = 0.5


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: two runs of one command differ
class Child:
    """One `vigie …` command and the environment variables it gets on top of ours."""

    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    label: str = ""  # tells apart children that run the same command (ingest workers)
    # Variables of ours it must not inherit (other services' secrets, the credentials files).
    unset: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        command = "vigie " + " ".join(self.args)
        return f"{command} ({self.label})" if self.label else command


def spawn(child: Child) -> subprocess.Popen[bytes]:
    """Start one child now."""
    log.info("starting '%s'", child.name)
    return subprocess.Popen(  # noqa: S603  # our own interpreter and module, fixed arguments
        [sys.executable, "-m", "vigie.cli", *child.args],
        env={**{k: v for k, v in os.environ.items() if k not in child.unset}, **child.env},
    )


class Backoff:
    """Restart delays: base_s doubling up to max_s; a run of healthy_s or more starts again at base_s.

    A service that crashes in a loop must not spin the CPU; one that ran well for an hour and
    crashed once must come back at once, not after the delay its crashes of last week earned.
    """

    def __init__(self, base_s: float, max_s: float, healthy_s: float) -> None:
        self.base_s = base_s
        self.max_s = max(max_s, base_s)
        self.healthy_s = healthy_s
        self._next = base_s

    def after_run(self, ran_s: float) -> float:
        """The delay before restarting a child that ran for ran_s seconds."""
        if ran_s >= self.healthy_s:
            self._next = self.base_s
        delay = self._next
        self._next = min(delay * 2, self.max_s)
        return delay


class StallWatch:
    """Reads the children's heartbeats from the database (they are other processes).

    It judges only after its own connection has worked for `grace_s`: after a database outage
    the children's heartbeats are as old as the outage until their next report, and restarting
    every service because the database came back would be absurd.
    """

    def __init__(self, url: str, grace_s: float, host: str | None = None) -> None:
        self.url = url
        self.grace_s = grace_s
        self.host = host or socket.gethostname()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._since: float | None = None
        self._failing = False

    def stalled(self, pids: Sequence[int]) -> dict[int, list[LoopBeat]]:
        """The stalled loops of these processes, by pid ({} when it cannot judge)."""
        try:
            conn = self._connection()
            beats = read_heartbeats(conn, host=self.host, pids=pids)
        except psycopg.Error as exc:
            self._lost(exc)
            return {}
        if self._failing:
            log.info("heartbeats readable again")
            self._failing = False
        assert self._since is not None
        if time.monotonic() - self._since < self.grace_s:
            return {}
        found: dict[int, list[LoopBeat]] = {}
        for beat in beats:
            if beat.stalled:
                found.setdefault(beat.pid, []).append(beat)
        return found

    def forget(self, pid: int) -> None:
        """Delete the heartbeats of a child that has ended (its pid may come back, reused)."""
        try:
            forget_process(self._connection(), self.host, pid)
        except psycopg.Error as exc:
            self._lost(exc)

    def close(self) -> None:
        """Close the connection (reopened on the next read)."""
        close_quietly(self._conn)
        self._conn = None

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(
                self.url, application_name=APP_SUPERVISOR, autocommit=True, connect_timeout=5
            )
            self._since = time.monotonic()
        return self._conn

    def _lost(self, exc: psycopg.Error) -> None:
        if not self._failing:
            log.warning("heartbeats unreadable (%s): stalls are not judged meanwhile", type(exc).__name__)
            self._failing = True
        self.close()
        self._since = None


@dataclass(eq=False)
class _Slot:
    """One child and what the supervisor knows of it."""

    child: Child
    backoff: Backoff
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0  # when proc is None: start it again at this time
    stopping: bool = False  # asked to stop because it stalled: not judged again
    kill_at: float | None = None  # and killed at this time if it has not stopped


class Supervisor:
    """The `vigie up` loop: start, watch (exit and heartbeats), restart with backoff, stop.

    Restarts are scheduled, never slept: a SIGTERM during a restart delay ends the loop at once,
    and the children that are still due to start are never started.
    """

    def __init__(
        self,
        children: Sequence[Child],
        cfg: LivenessSettings,
        watch: StallWatch | None,
        stop: threading.Event | None = None,
    ) -> None:
        self.cfg = cfg
        self.watch = watch
        self.stop_event = stop or threading.Event()
        self.slots = [
            _Slot(c, Backoff(cfg.backoff_base_s, cfg.backoff_max_s, cfg.healthy_run_s)) for c in children
        ]

    def run(self) -> int:
        """Supervise until stop_event; then stop the children and return the worst exit code."""
        for slot in self.slots:
            self._start(slot)
        # Under a unit with WatchdogSec= (`vigie ingest` with PROCESSES > 1 is this loop), systemd
        # expects the pings from us, the main process; we judge our children ourselves.
        watchdog = SystemdWatchdog.from_environ(os.environ, os.getpid())
        next_check = time.monotonic() + self.cfg.check_s
        while not self.stop_event.wait(_TICK_S):
            if watchdog is not None:
                watchdog.ping()
            now = time.monotonic()
            for slot in self.slots:
                self._tend(slot, now)
            if self.watch is not None and self.cfg.restart_stalled and now >= next_check:
                next_check = now + self.cfg.check_s
                self._check_stalls(now)
        code = self._stop_all()
        if self.watch is not None:
            self.watch.close()
        return code

    def _start(self, slot: _Slot) -> None:
        slot.proc = spawn(slot.child)
        slot.started = time.monotonic()
        slot.stopping, slot.kill_at = False, None

    def _tend(self, slot: _Slot, now: float) -> None:
        if slot.proc is None:
            if now >= slot.restart_at:
                self._start(slot)
            return
        code = slot.proc.poll()
        if code is None:
            if slot.kill_at is not None and now >= slot.kill_at:
                log.error("'%s' did not stop in %.0f s; killing it", slot.child.name, self.cfg.stop_timeout_s)
                slot.proc.kill()
                slot.kill_at = None
            return
        delay = slot.backoff.after_run(now - slot.started)
        if self.watch is not None:
            self.watch.forget(slot.proc.pid)
        log.warning("'%s' exited with %s; restarting in %.1f s", slot.child.name, code, delay)
        slot.proc = None
        slot.restart_at = now + delay

    def _check_stalls(self, now: float) -> None:
        assert self.watch is not None
        running = {s.proc.pid: s for s in self.slots if s.proc is not None and not s.stopping}
        if not running:
            return
        for pid, beats in self.watch.stalled(list(running)).items():
            slot = running.get(pid)
            if slot is None or slot.proc is None:
                continue
            loops = ", ".join(
                f"{b.service}/{b.loop} for {b.age_s:.1f} s (max {b.max_interval_s:g} s)" for b in beats
            )
            log.error("'%s' stalled: no heartbeat from %s; restarting it", slot.child.name, loops)
            slot.proc.send_signal(signal.SIGTERM)
            slot.stopping, slot.kill_at = True, now + self.cfg.stop_timeout_s

    def _stop_all(self) -> int:
        running = [s for s in self.slots if s.proc is not None]
        for slot in running:
            assert slot.proc is not None
            if slot.proc.poll() is None:
                slot.proc.send_signal(signal.SIGTERM)
        worst = 0
        for slot in running:
            assert slot.proc is not None
            try:
                code = slot.proc.wait(timeout=self.cfg.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.error("'%s' did not stop in %.0f s; killing it", slot.child.name, self.cfg.stop_timeout_s)
                slot.proc.kill()
                code = slot.proc.wait()
            if code:
                # Negative: killed by that signal, without a handler of its own (simulators).
                log.warning("'%s' exited with %s while stopping", slot.child.name, code)
            if self.watch is not None:
                self.watch.forget(slot.proc.pid)
            worst = worst or code
        return worst


def supervise(
    children: Sequence[Child],
    cfg: LivenessSettings | None = None,
    database_url: str | None = None,
) -> int:
    """Run the children until SIGTERM/SIGINT; then stop them and return the worst exit code.

    A child that exits is restarted after a bounded exponential backoff (Backoff). With a
    database_url, a child whose work loop has stalled (its heartbeat older than the loop's own
    max interval, see vigie.heartbeat) is stopped, killed if it does not stop, and restarted.
    """
    cfg = cfg or LivenessSettings()
    stop = threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        # Set from another thread: the handler runs in the main thread between two bytecodes,
        # possibly while that thread holds the event's own lock inside stop.wait().
        threading.Thread(target=stop.set, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Three reports: enough for every child to have written after the database came back.
    watch = StallWatch(database_url, grace_s=3 * cfg.report_s) if database_url else None
    return Supervisor(children, cfg, watch, stop).run()
