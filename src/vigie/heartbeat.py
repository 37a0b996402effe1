"""Heartbeats of the services' real work loops, stored where `vigie up` and the API read them.

A loop calls `beat()` as it turns: a monotonic timestamp, no I/O, so it costs nothing at any
rate. One reporter thread per process upserts every loop's last beat into service_heartbeats
every `report_s`: one small write per process per report, whatever the loops do. A loop is
stalled when its last beat is older than its own declared `max_interval_s`.

Why the database and not a file per process: `vigie up` is another process than its children,
and the API (which must show stalled loops) may run in another container; the database is the
one place that every service already reaches. When the database is away nothing can be
reported, so readers judge only while they themselves have been connected for a while
(see vigie.supervise).

A process that froze as a whole (its reporter too) keeps its last rows, which grow old: it shows
as stalled, which it is. Rows are removed when a process stops cleanly, when `vigie up` has
reaped the child, and when a later process of the same service on the same host finds that
their pid no longer runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from vigie.db import close_quietly, connect
from vigie.systemd import SystemdWatchdog

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


class Heartbeat:
    """One loop's proof of life; `beat()` is safe to call from its thread at any rate."""

    def __init__(
        self, service: str, loop: str, max_interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.service = service
        self.loop = loop
        self.max_interval_s = float(max_interval_s)
        self._clock = clock
        # A float assignment is atomic under the GIL: no lock between the loop and the reporter.
        self._last = clock()

    def beat(self) -> None:
        """The loop has just turned."""
        self._last = self._clock()

    def age_s(self) -> float:
        """Seconds since the last beat."""
        return max(0.0, self._clock() - self._last)

    @property
    def stalled(self) -> bool:
        """No beat for longer than the loop's own limit."""
        return self.age_s() > self.max_interval_s


_UPSERT = """
INSERT INTO service_heartbeats (host, pid, service, loop, beat_at, max_interval_s, reported_at)
SELECT %(host)s, %(pid)s, %(service)s, u.loop, now() - make_interval(secs => u.age), u.max, now()
FROM unnest(%(loops)s::text[], %(ages)s::float8[], %(maxes)s::float8[]) AS u(loop, age, max)
ON CONFLICT (host, pid, service, loop) DO UPDATE
SET beat_at = EXCLUDED.beat_at, max_interval_s = EXCLUDED.max_interval_s,
    reported_at = EXCLUDED.reported_at
"""

SELECT_BEATS = """
SELECT service, loop, host, pid, extract(epoch FROM now() - beat_at)::float8, max_interval_s
FROM service_heartbeats
"""


@dataclass(frozen=True)
class LoopBeat:
    """One loop's heartbeat as stored: who, and how old its last beat is."""

    service: str
    loop: str
    host: str
    pid: int
    age_s: float
    max_interval_s: float

    @property
    def stalled(self) -> bool:
        """No beat for longer than the loop's own limit."""
        return self.age_s > self.max_interval_s


def beat_from_row(row: tuple[Any, ...]) -> LoopBeat:
    """A LoopBeat from a row of SELECT_BEATS."""
    service, loop, host, pid, age, max_interval = row
    return LoopBeat(str(service), str(loop), str(host), int(pid), max(0.0, float(age)), float(max_interval))


def read_heartbeats(
    conn: Conn, *, host: str | None = None, pids: Iterable[int] | None = None
) -> list[LoopBeat]:
    """Every stored heartbeat (or those of these pids on this host), oldest beat first."""
    if pids is None:
        rows = conn.execute(SELECT_BEATS + " ORDER BY beat_at").fetchall()
    else:
        rows = conn.execute(
            SELECT_BEATS + " WHERE host = %s AND pid = ANY(%s) ORDER BY beat_at", (host, list(pids))
        ).fetchall()
    return [beat_from_row(r) for r in rows]


def forget_process(conn: Conn, host: str, pid: int) -> None:
    """Remove the heartbeats of a process that has ended."""
    conn.execute("DELETE FROM service_heartbeats WHERE host = %s AND pid = %s", (host, pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class HeartbeatReporter:
    """Stores this process's heartbeats every report_s from its own thread; `run()` + stop event.

    Probes (see `add_probe`) run just before each report: they ask a loop to prove itself, for
    a loop that may sit idle for long (paho's network thread answers a broker round trip).
    """

    def __init__(
        self,
        url: str,
        service: str,
        *,
        report_s: float,
        application_name: str | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.url = url
        self.service = service
        self.report_s = report_s
        self.application_name = application_name or f"vigie-{service}-heartbeat"
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.stop_event = threading.Event()
        self.reports = 0
        self._beats: dict[str, Heartbeat] = {}
        self._gone: set[str] = set()
        self._probes: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._conn: Conn | None = None
        self._failing = False
        self._thread: threading.Thread | None = None
        self.watchdog = SystemdWatchdog.from_environ(os.environ, self.pid)
        self.pings = 0

    def register(self, loop: str, max_interval_s: float) -> Heartbeat:
        """A new heartbeat for this loop of this service, reported from now on."""
        hb = Heartbeat(self.service, loop, max_interval_s)
        with self._lock:
            self._beats[loop] = hb
            self._gone.discard(loop)
        return hb

    def unregister(self, hb: Heartbeat) -> None:
        """The loop has ended on purpose (a camera removed): its row is deleted at the next report."""
        with self._lock:
            if self._beats.get(hb.loop) is hb:
                del self._beats[hb.loop]
                self._gone.add(hb.loop)

    def add_probe(self, probe: Callable[[], None]) -> None:
        """Call probe() before each report (it must not block)."""
        self._probes.append(probe)

    def report_once(self) -> None:
        """Upsert every registered loop's beat and delete unregistered ones; raises psycopg.Error."""
        with self._lock:
            beats = list(self._beats.values())
            gone = sorted(self._gone)
        conn = self._connection()
        with conn.transaction():
            if beats:
                conn.execute(
                    _UPSERT,
                    {
                        "host": self.host,
                        "pid": self.pid,
                        "service": self.service,
                        "loops": [b.loop for b in beats],
                        "ages": [b.age_s() for b in beats],
                        "maxes": [b.max_interval_s for b in beats],
                    },
                )
            if gone:
                conn.execute(
                    "DELETE FROM service_heartbeats WHERE host = %s AND pid = %s AND service = %s"
                    " AND loop = ANY(%s)",
                    (self.host, self.pid, self.service, gone),
                )
        with self._lock:
            self._gone -= set(gone)
        self.reports += 1

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, application_name=self.application_name, autocommit=True)
            # A report that hangs would delay the systemd pings of the same thread.
            self._conn.execute("SET statement_timeout = 5000")
            self._forget_dead_peers(self._conn)
        return self._conn

    def _forget_dead_peers(self, conn: Conn) -> None:
        """Rows left on this host by earlier processes of this service that died uncleanly."""
        rows = conn.execute(
            "SELECT DISTINCT pid FROM service_heartbeats WHERE host = %s AND service = %s AND pid <> %s",
            (self.host, self.service, self.pid),
        ).fetchall()
        for (pid,) in rows:
            if not _alive(int(pid)):
                forget_process(conn, self.host, int(pid))

    def stalled(self) -> list[Heartbeat]:
        """This process's loops that are stalled now (judged in memory, no database)."""
        with self._lock:
            return [b for b in self._beats.values() if b.stalled]

    def _tick(self) -> float:
        # systemd asks for a ping every half of its watchdog interval at least.
        if self.watchdog is None:
            return self.report_s
        return min(self.report_s, self.watchdog.interval_s / 2)

    def run(self) -> None:
        """Report every report_s until stopped; a database outage is logged once, then retried."""
        last_report = float("-inf")
        while not self.stop_event.is_set():
            if self.watchdog is not None and not self.stalled():
                self.watchdog.ping()
                self.pings += 1
            if time.monotonic() - last_report < self.report_s:
                self.stop_event.wait(self._tick())
                continue
            last_report = time.monotonic()
            for probe in self._probes:
                try:
                    probe()
                except Exception as exc:  # noqa: BLE001  # a probe must not end the reports
                    log.warning("heartbeat probe failed: %s: %s", type(exc).__name__, exc)
            try:
                self.report_once()
                if self._failing:
                    log.info("heartbeats reported again")
                    self._failing = False
            except psycopg.Error as exc:
                if not self._failing:
                    # Never the URL: it may carry the database password.
                    log.error("heartbeats cannot be reported: %s: %s", type(exc).__name__, str(exc)[:300])
                    self._failing = True
                self._close()
            self.stop_event.wait(self._tick())

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name=f"heartbeat-{self.service}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting and delete this process's rows: a clean stop is not a stall."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=self.report_s + 15)
        try:
            with connect(self.url, application_name=self.application_name, autocommit=True) as conn:
                forget_process(conn, self.host, self.pid)
        except psycopg.Error as exc:
            log.warning("heartbeats of this process left behind: %s", type(exc).__name__)
        self._close()

    def _close(self) -> None:
        close_quietly(self._conn)
        self._conn = None
