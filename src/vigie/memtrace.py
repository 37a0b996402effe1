"""Where a service's memory goes: tracemalloc and live-object counts dumped to a file at intervals.

A diagnostic switch, off by default (`VIGIE_MEMTRACE_DIR`): a soak showed the alerts process's
RSS growing with no plateau (issue 14), and RSS alone cannot say whether Python objects pile up
(a cache, a leaked object per send) or the C allocator keeps freed memory (arenas). Each report
puts the two side by side: RSS, the bytes tracemalloc traces, the top allocation sites grown since
the first report and since the previous one, and the object types whose live count grew.

Costs: tracemalloc slows allocation (about 1.3-2x with a few frames) and counting objects walks
every tracked object (tens of ms). For measurement runs, not for a site.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

TOP_SITES = 25
TOP_TYPES = 20
TRACEBACKS = 5  # the sites that grew most, with their callers


def rss_bytes() -> int:
    """This process's resident set, from /proc (0 where there is no /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost",
    )]


def malloc_bytes() -> tuple[int, int, int] | None:
    """glibc's view over all its arenas: (bytes from the system, in use, free but kept), or None.

    The free-but-kept part is what RSS holds beyond live memory (arena fragmentation)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    m = fn()
    return int(m.arena + m.hblkhd), int(m.uordblks + m.hblkhd), int(m.fordblks)


def live_types() -> Counter[str]:
    """Live objects tracked by the garbage collector, counted by type name."""
    return Counter(type(o).__qualname__ for o in gc.get_objects())


class MemTracer:
    """Takes a snapshot every interval_s and appends a plain-text report to `path`."""

    def __init__(self, path: Path, interval_s: float = 60.0, frames: int = 4) -> None:
        self.path = path
        self.interval_s = interval_s
        self.frames = frames
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: tracemalloc.Snapshot | None = None
        self._prev: tracemalloc.Snapshot | None = None
        self._first_types: Counter[str] = Counter()
        self._started = time.monotonic()
        self.reports = 0
        self._own_tracing = False

    def start(self) -> None:
        """Start tracing and the reporting thread."""
        if not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
            self._own_tracing = True
        self._thread = threading.Thread(target=self._run, name="memtrace", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write a last report and stop."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._own_tracing:
            tracemalloc.stop()

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self._report_safely()
        self._report_safely()

    def _report_safely(self) -> None:
        try:
            self.report()
        except Exception as exc:  # noqa: BLE001  # a diagnostic must never take the service down
            log.warning("memtrace : rapport impossible (%s)", type(exc).__name__)

    def report(self) -> None:
        """One report: totals, allocation sites grown, object types grown."""
        snap = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__))
        )
        types = live_types()
        traced, peak = tracemalloc.get_traced_memory()
        m = malloc_bytes()
        malloc = "" if m is None else " malloc(system/used/free)=" + "/".join(f"{b / 2**20:.1f}" for b in m)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(
                f"=== {datetime.now(UTC).isoformat(timespec='seconds')}"
                f" t={time.monotonic() - self._started:.0f}s"
                f" pid={os.getpid()} rss={rss_bytes() / 2**20:.1f}MiB traced={traced / 2**20:.1f}MiB"
                f" peak={peak / 2**20:.1f}MiB threads={threading.active_count()}"
                f" objects={sum(types.values())}{malloc and malloc + 'MiB'}\n"
            )
            if self._first is None:
                self._first, self._first_types = snap, types
                self._write_top(out, "largest sites", snap.statistics("lineno")[:TOP_SITES])
            else:
                since_first = snap.compare_to(self._first, "lineno")
                self._write_top(out, "grown since first report", since_first[:TOP_SITES])
                if self._prev is not None:
                    recent = snap.compare_to(self._prev, "lineno")[:10]
                    self._write_top(out, "grown since previous report", recent)
                out.write("-- callers of the sites grown most since first report\n")
                for stat in snap.compare_to(self._first, "traceback")[:TRACEBACKS]:
                    out.write(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks\n")
                    for line in stat.traceback.format(limit=self.frames):
                        out.write(f"    {line}\n")
                grown = sorted(
                    ((n - self._first_types.get(t, 0), t, n) for t, n in types.items()),
                    reverse=True,
                )[:TOP_TYPES]
                out.write("-- live objects grown since first report (type: +diff = now)\n")
                for diff, t, n in grown:
                    if diff > 0:
                        out.write(f"  {t}: {diff:+d} = {n}\n")
            self._prev = snap
        self.reports += 1

    @staticmethod
    def _write_top(
        out: TextIO, title: str, stats: list[tracemalloc.Statistic] | list[tracemalloc.StatisticDiff]
    ) -> None:
        out.write(f"-- {title}\n")
        for stat in stats:
            out.write(f"  {stat}\n")


def start_tracer(directory: Path | None, service: str, interval_s: float) -> MemTracer | None:
    """Start a tracer writing <directory>/<service>-<pid>.txt, or nothing when directory is None."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    tracer = MemTracer(directory / f"{service}-{os.getpid()}.txt", interval_s)
    tracer.start()
    log.info("memtrace: tracemalloc on, report every %.0f s in %s", interval_s, tracer.path)
    return tracer
