"""Run `vigie` sub-commands as child processes: restart one that dies, stop all on SIGTERM.

`vigie up` runs a small site's services this way, and `vigie ingest` its extra processes
(ingest.processes), so the restart and shutdown rules are the same everywhere.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_STOP_TIMEOUT_S = 30.0
_BACKOFF_MAX_S = 30.0


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: two runs of one command differ
class Child:
    """One `vigie …` command and the environment variables it gets on top of ours."""

    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    label: str = ""  # tells apart children that run the same command (ingest workers)

    @property
    def name(self) -> str:
        command = "vigie " + " ".join(self.args)
        return f"{command} ({self.label})" if self.label else command


def spawn(child: Child) -> subprocess.Popen[bytes]:
    """Start one child now."""
    log.info("starting '%s'", child.name)
    return subprocess.Popen(  # noqa: S603  # our own interpreter and module, fixed arguments
        [sys.executable, "-m", "vigie.cli", *child.args], env={**os.environ, **child.env}
    )


def supervise(children: Sequence[Child]) -> int:
    """Run the children until SIGTERM/SIGINT; then stop them and return the worst exit code.

    A child that exits on its own is restarted with exponential backoff (1 s doubling to 30 s):
    a service that crashes in a loop must not spin the CPU, and one that crashed once must come
    back by itself.
    """
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    procs = {child: spawn(child) for child in children}
    backoff: dict[Child, float] = {}
    while not stopping:
        time.sleep(0.5)
        for child, proc in list(procs.items()):
            code = proc.poll()
            if code is not None and not stopping:
                delay = min(backoff.get(child, 0.5) * 2, _BACKOFF_MAX_S)
                backoff[child] = delay
                log.warning("'%s' exited with %s; restarting in %.0f s", child.name, code, delay)
                time.sleep(delay)
                procs[child] = spawn(child)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    worst = 0
    for child, proc in procs.items():
        try:
            code = proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("'%s' did not stop in %.0f s; killing it", child.name, _STOP_TIMEOUT_S)
            proc.kill()
            code = proc.wait()
        if code:
            # Negative: killed by that signal, without a handler of its own (simulators).
            log.warning("'%s' exited with %s while stopping", child.name, code)
        worst = worst or code
    return worst
