"""`vigie alerts` on glibc's malloc (vigie.malloc): why, and that the process really runs on it.

Issue 14's soak: the process's pymalloc arenas grew without end while the bytes its objects held
stayed flat (fragmentation: a few survivors of each burst keep whole arenas). These tests show
the mechanism on this interpreter and check that `vigie alerts` re-executes itself on malloc.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Service, running
from vigie.malloc import system_malloc_exec

# Bursts of short-lived rows of which one in 500 survives, as a pass's rows beside the objects
# that outlive it; prints the RSS grown, in KiB, after the last burst is freed and trimmed.
BURSTS = """
import gc, sys
from vigie.malloc import trim
from vigie.memtrace import rss_bytes
base, keep = rss_bytes(), []
for _ in range(8):
    burst = [(i, float(i), str(i)) for i in range(200_000)]
    keep.extend(burst[::500])
    del burst
    gc.collect()
    trim()
print((rss_bytes() - base) // 1024)
"""


def _grown_kib(allocator: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    if allocator is not None:
        env["PYTHONMALLOC"] = allocator
    out = subprocess.run([sys.executable, "-c", BURSTS], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return int(out.stdout.strip())


@pytest.mark.skipif(sys.platform != "linux", reason="glibc only")
def test_survivors_of_bursts_keep_pymalloc_arenas_but_not_trimmed_malloc() -> None:
    pymalloc, malloc = _grown_kib(None), _grown_kib("malloc")
    # Measured here: about 37 MiB kept by pymalloc against 12 MiB by malloc + trim, for
    # 3,200 survivors (well under 1 MiB of live objects).
    assert pymalloc > 16 * 1024, pymalloc
    assert malloc < pymalloc / 2, (malloc, pymalloc)


def test_exec_asks_for_malloc_once_and_keeps_the_arguments() -> None:
    argv = ["/usr/bin/python3", "-m", "vigie.cli", "alerts"]
    got = system_malloc_exec({"PATH": "/bin", "NOTIFY_SOCKET": "/run/x"}, argv, "/usr/bin/python3")
    if got is None:
        pytest.skip("not glibc")
    path, new_argv, env = got
    assert path == "/usr/bin/python3"
    assert new_argv == argv
    assert env == {"PATH": "/bin", "NOTIFY_SOCKET": "/run/x", "PYTHONMALLOC": "malloc"}
    # Already chosen (by the exec itself, an operator, or a debugging run): left alone.
    assert system_malloc_exec({"PYTHONMALLOC": "malloc"}, argv, "/usr/bin/python3") is None
    assert system_malloc_exec({"PYTHONMALLOC": "pymalloc_debug"}, argv, "/usr/bin/python3") is None
    assert system_malloc_exec({}, argv, "") is None


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode(errors="replace").split("=", 1) for e in raw if b"=" in e)


@pytest.mark.skipif("PYTHONMALLOC" in os.environ, reason="the test run chose an allocator itself")
def test_vigie_alerts_runs_on_malloc_under_the_same_pid(alerts_url: str, tmp_path: Path) -> None:
    env = {"VIGIE_DATABASE_URL": alerts_url, "VIGIE_LOG_LEVEL": "INFO",
           "PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    svc = Service(["alerts"], env, tmp_path / "alerts.log")
    with running(svc):
        assert svc.proc is not None
        pid = svc.proc.pid

        # Logged once the service runs, its SIGTERM handler set (the start-up check's short
        # connection, also 'vigie-alerts-engine', comes earlier: waiting for it raced).
        svc.wait_log("notifier ready", timeout=60)
        # The process that runs is the one started, now on malloc (environ is the exec's).
        assert svc.proc.poll() is None
        assert _environ(pid).get("PYTHONMALLOC") == "malloc"
        assert svc.stop() == 0
    assert "Traceback" not in svc.log()
