"""Run code under the real MicroPython (Debian 13's Unix port, 1.25) with the firmware's modules.

scripts/micropython.sh installs it (on the host on Debian 13, in the Debian 13 root of
scripts/timescaledb.sh on Debian 12) and vendors umqtt.simple into .cache/micropython/lib.
Each run copies firmware/gauge/*.py, umqtt and tests/firmware/mpy/*.py into a fresh directory
(inside the root when chrooted: the root shares the host's network, so 127.0.0.1 is the host's).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GAUGE = REPO / "firmware" / "gauge"
SIM = Path(__file__).resolve().parent / "mpy"
UMQTT = REPO / ".cache" / "micropython" / "lib" / "umqtt"
ROOT = Path(os.environ.get("VIGIE_PG_ROOT", "/var/lib/vigie/trixie"))


class MicroPythonMissing(RuntimeError):
    """MicroPython is not installed: run scripts/micropython.sh (make test does)."""


@dataclass(frozen=True)
class Interpreter:
    root: Path | None  # None: on the host

    def argv(self, workdir_inside: str, script: str, heap: str | None) -> list[str]:
        heap_args = f"-X heapsize={heap} " if heap else ""
        inner = f"cd {workdir_inside} && exec /usr/bin/micropython {heap_args}{script}"
        if self.root is None:
            return ["/bin/sh", "-c", inner]
        return ["chroot", str(self.root), "/bin/sh", "-c", inner]


def interpreter() -> Interpreter:
    """Where micropython is; MicroPythonMissing if nowhere."""
    if not (UMQTT / "simple.py").exists():
        raise MicroPythonMissing("umqtt.simple is not vendored: run scripts/micropython.sh")
    if Path("/usr/bin/micropython").exists():
        return Interpreter(None)
    if (ROOT / "usr/bin/micropython").exists() and os.geteuid() == 0:
        return Interpreter(ROOT)
    raise MicroPythonMissing(f"no /usr/bin/micropython on the host nor in {ROOT}")


def run(
    script: str,
    data: Any = None,
    *,
    timeout: float = 300,
    heap: str | None = "8M",
    extra: dict[str, bytes] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run tests/firmware/mpy/<script> under MicroPython; `data` goes in as input.json."""
    interp = interpreter()
    base = (interp.root / "tmp") if interp.root else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="vigie-mpy-", dir=base))
    try:
        for src in [*GAUGE.glob("*.py"), *SIM.glob("*.py")]:
            if src.name != "main.py":
                shutil.copy(src, work / src.name)
        shutil.copytree(UMQTT, work / "umqtt")
        (work / "input.json").write_text(json.dumps(data))
        for name, blob in (extra or {}).items():
            (work / name).write_bytes(blob)
        inside = "/" + str(work.relative_to(interp.root)) if interp.root else str(work)
        return subprocess.run(
            interp.argv(inside, script, heap),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_json(script: str, data: Any = None, **kwargs: Any) -> Any:
    """Run a script that prints one JSON line last; fail with its output otherwise."""
    proc = run(script, data, **kwargs)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise AssertionError(
            f"micropython {script} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1])
