"""`vigie alerts`: the engine (LISTEN + minute sweep), the CAP writer and the dispatcher, one process.

The engine is woken by NOTIFY 'vigie_readings' right after each committed ingest batch and reads
the new rain from the tables; an APScheduler job sweeps every minute for silence, reminders and
de-escalation once data stops. Each loop is a small class with run() and a stop event.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg

from alerts.cap import CapWriter
from alerts.dispatch import Dispatcher
from alerts.engine import Engine
from alerts.exercise import ExerciseRunner
from vigie import notify
from vigie.db import APP_ALERTS_ENGINE, APP_ALERTS_SWEEP, connect
from vigie.heartbeat import Heartbeat, HeartbeatReporter
from vigie.jobs import JobHealth, guarded, make_scheduler
from vigie.listen import ListenLoop
from vigie.malloc import trim
from vigie.settings import Settings

log = logging.getLogger(__name__)

class ReadingsListener:
    """LISTEN vigie_readings; evaluate the stations that got rain as soon as a batch commits.

    Stations that got only dry readings cannot open an incident from them (their windows can
    only fall); their health checks and de-escalation are evaluated by a catch-up pass at most
    `dry_delay_s` later, so a fleet's heartbeats never queue up ahead of a storm's first tips.
    """

    def __init__(
        self,
        url: str,
        engine: Engine,
        idle_s: float,
        dry_delay_s: float,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.url = url
        self.engine = engine
        self.idle_s = idle_s
        self.dry_delay_s = dry_delay_s
        self.stop_event = threading.Event()
        self.passes = 0
        self._dry_since: float | None = None  # when dry stations started waiting for a catch-up
        self.loop = ListenLoop(
            "alerts listener",
            lambda: connect(self.url, application_name=APP_ALERTS_ENGINE, autocommit=True),
            [notify.READINGS],
            self,
            stop_event=self.stop_event,
            heartbeat=heartbeat,
        )

    def stop(self) -> None:
        """Ask run() to return."""
        self.stop_event.set()

    def run(self) -> None:
        """Until stopped: (re)connect, listen, evaluate; a failure never ends the loop."""
        self.loop.run()

    # --- ListenHandler ---------------------------------------------------------------------------
    def on_connect(self, conn: psycopg.Connection[Any]) -> None:
        """Whatever committed while we were not listening."""
        self._dry_since = None
        self.engine.evaluate(conn, None)

    def timeout_s(self) -> float:
        """idle_s, or less when dry stations are due for their catch-up."""
        if self._dry_since is None:
            return self.idle_s
        return max(0.001, min(self.idle_s, self._dry_since + self.dry_delay_s - time.monotonic()))

    def on_wake(self, conn: psycopg.Connection[Any], payloads: list[str]) -> None:
        """Evaluate the stations that got rain now, and everyone once the dry delay is over."""
        notices = [notify.parse_readings_payload(p) for p in payloads]
        catch_up = any(n.now is None for n in notices)
        touched = set().union(*(n.now for n in notices if n.now is not None))
        if any(n.deferred for n in notices) and self._dry_since is None:
            self._dry_since = time.monotonic()
        if self._dry_since is not None and time.monotonic() - self._dry_since >= self.dry_delay_s:
            catch_up = True
        if catch_up:
            # The watermark catch-up covers every station that reported, wet or dry.
            self.engine.evaluate(conn, None)
            self._dry_since = None
        elif touched:
            self.engine.evaluate(conn, touched)
        if notices or catch_up:
            self.passes += 1


class Sweeper:
    """The minute sweep, on APScheduler (max_instances=1, coalesce): silence, reminders, decay."""

    def __init__(self, url: str, engine: Engine, interval_s: float) -> None:
        self.url = url
        self.engine = engine
        self.interval_s = interval_s
        self.health = JobHealth("alerts-sweep")
        self.scheduler = make_scheduler()
        self._conn: psycopg.Connection[Any] | None = None

    def sweep(self) -> None:
        """One sweep on a kept connection, reopened after a failure."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.url, application_name=APP_ALERTS_SWEEP, autocommit=True)
            self.engine.evaluate(self._conn, now=None, sweep=True)
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise
        finally:
            # Once a minute, hand back what the passes and the sends freed (vigie.malloc).
            trim()

    def start(self) -> None:
        """Sweep now, then every interval_s, in the scheduler's thread.

        The first sweep used to run here, in the caller's thread, before the engine's loops
        started: a restarted engine listened only after a full pass, seconds under load (issue 14,
        recovery under 5 s). The listener's own catch-up covers what committed meanwhile, and the
        engine's advisory lock keeps the two passes from running at once."""
        job = guarded("alerts-sweep", self.sweep, self.health)
        self.scheduler.add_job(
            job, "interval", seconds=self.interval_s, id="alerts-sweep", next_run_time=datetime.now(UTC)
        )
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler and close the connection."""
        self.scheduler.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()


class _Runnable(Protocol):
    def run(self) -> None: ...
    def stop(self) -> None: ...


class AlertsService:
    """Engine listener + sweeper + CAP writer + dispatcher, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        url = settings.database_url.get_secret_value()
        live = settings.liveness
        self.heartbeats = HeartbeatReporter(url, "alerts", report_s=live.report_s)
        cfg = settings.alerts
        self.engine = Engine(cfg)
        # Each loop turns at least every idle_s / poll_s, plus the length of one pass.
        self.listener = ReadingsListener(
            url,
            self.engine,
            cfg.listen_idle_s,
            cfg.dry_delay_s,
            heartbeat=self.heartbeats.register("engine", max(live.stall_s, 3 * cfg.listen_idle_s)),
        )
        self.sweeper = Sweeper(url, self.engine, cfg.sweep_interval_s)
        self.cap_writer = CapWriter(settings, heartbeat=self.heartbeats.register("cap", live.stall_s))
        self.dispatcher = Dispatcher(
            settings, heartbeat=self.heartbeats.register("notifier", max(live.stall_s, 3 * cfg.poll_s))
        )
        self.exercises = ExerciseRunner(
            url, heartbeat=self.heartbeats.register("exercises", max(live.stall_s, 15.0))
        )
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def run(self) -> None:
        """Run until stop() is called."""
        self.heartbeats.start()
        self.sweeper.start()
        loops: list[_Runnable] = [self.listener, self.cap_writer, self.dispatcher, self.exercises]
        for loop in loops:
            t = threading.Thread(target=loop.run, name=type(loop).__name__, daemon=True)
            t.start()
            self._threads.append(t)
        self._stop.wait()
        for loop in loops:
            loop.stop()
        self.sweeper.stop()
        for t in self._threads:
            t.join(timeout=30)
        self.heartbeats.stop()

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()
