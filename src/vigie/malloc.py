"""glibc's allocator, told to keep less: fewer arenas, and free pages handed back.

Why (issue 14's soak, measured with vigie.memtrace): the alerts process's RSS grew about 2 MiB a
minute with no plateau while the Python objects it traced stayed flat (2-5 MiB) and glibc's
in-use bytes too; what grew was memory glibc had freed but kept. Its sixteen notifier workers,
the engine, the sweep and the CAP writer each allocate from the arena glibc gives their thread
(up to eight per core: six arenas of up to 7 MiB each in that process), and the engine's passes
(libpq results, lists and dicts of a 500-station snapshot) leave holes that no arena returns
to the system by itself. Two arenas and a trim after each sweep keep RSS to what is live.

What still grew after that (issue 14, measured in a live soak process through gdb with
sys._debugmallocstats): Python's own small-object allocator (pymalloc). Its 1 MiB arenas went
from 34 to 43 in 20 minutes while the bytes in allocated blocks stayed at 34.4-36.3 MB:
fragmentation. Running the process on glibc's malloc instead (PYTHONMALLOC=malloc, by a re-exec)
was tried and reverted: in 20-minute soaks it grew 0.43 and 0.65 MiB a minute against 0.74 on
pymalloc, one run each, for 0.5 CPU s more at every start (docs/benchmarks.md, "Alerts memory,
continued").

Elsewhere than glibc (musl, macOS) both calls are absent and do nothing.
"""

from __future__ import annotations

import ctypes
import logging
from functools import cache

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h


@cache
def _libc() -> ctypes.CDLL | None:
    # Not ctypes.util.find_library: it runs ldconfig in a subprocess.
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def limit_arenas(n: int) -> bool:
    """At most n malloc arenas for the whole process; call before starting threads.

    Threads beyond n share arenas (a lock, uncontended at our rates) instead of each growing
    its own. True when glibc accepted it."""
    libc = _libc()
    fn = getattr(libc, "mallopt", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return bool(fn(M_ARENA_MAX, n))


def trim() -> bool:
    """Give the free pages of every arena back to the system (malloc_trim(0)): milliseconds.

    True when some memory was released."""
    libc = _libc()
    fn = getattr(libc, "malloc_trim", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return bool(fn(0))
