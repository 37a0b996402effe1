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
from 34 to 43 in 20 minutes while the bytes in allocated blocks stayed at 34.4-36.3 MB and
glibc's in-use bytes near 21 MiB: fragmentation. A pass or a send allocates a burst of small
objects (rows, tuples, floats, datetimes) of which a few outlive it; each survivor keeps its
16 KiB pool, and pymalloc returns an arena to the system only when every pool in it is empty
(tests/alerts/test_malloc.py shows it on this interpreter). glibc's malloc gives free pages back
from the middle of its heaps (the trim above), so `vigie alerts` runs on it:
`run_on_system_malloc()` re-executes the process, same PID, with PYTHONMALLOC=malloc. In two
20-minute soaks that lowered the growth from 0.74 to 0.43 MiB a minute, not to nothing
(docs/benchmarks.md, "Alerts memory, continued").

Elsewhere than glibc (musl, macOS) these calls are absent and do nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Mapping, Sequence
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


def system_malloc_exec(
    environ: Mapping[str, str], orig_argv: Sequence[str], executable: str
) -> tuple[str, list[str], dict[str, str]] | None:
    """(path, argv, env) to exec so that this interpreter runs on the C allocator, or None.

    None when PYTHONMALLOC is already set (whatever its value: an operator's or a debugging
    choice is kept, and it stops a second exec), when the interpreter's path is unknown, or when
    this is not glibc (no malloc_trim to give the memory back)."""
    if "PYTHONMALLOC" in environ or not executable or not orig_argv:
        return None
    libc = _libc()
    if libc is None or getattr(libc, "malloc_trim", None) is None:
        return None
    return executable, [executable, *orig_argv[1:]], {**environ, "PYTHONMALLOC": "malloc"}


def run_on_system_malloc() -> None:
    """Re-execute this process (same PID, same arguments) with PYTHONMALLOC=malloc, once.

    Call it first, before threads, open connections or output: exec replaces the process image
    (a supervisor or systemd sees the same PID; NOTIFY_SOCKET and the rest of the environment
    are kept). Costs the interpreter's start-up a second time (the imports before this call)."""
    args = system_malloc_exec(os.environ, sys.orig_argv, sys.executable)
    if args is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(*args)  # noqa: S606  # our own interpreter, our own arguments
