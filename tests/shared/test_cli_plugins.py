"""`vigie` imports only the service it runs: each service process carries its own libraries only."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("cv2", "av", "fastapi", "apprise")  # camera, camera, api, alerts

PROBE = """
import sys
from vigie import cli
cli._load_plugins(sys.argv[1:])
print(",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(*args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return set(out.split(",")) - {""}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("ingest",), set()),
        (("ingest", "--help"), set()),
        (("up", "--only", "ingest"), set()),
        (("migrate",), set()),
        (("camera", "run"), {"cv2", "av"}),
        (("--help",), set(HEAVY)),  # the full list of commands needs every service
    ],
)
def test_only_the_invoked_service_is_imported(args: tuple[str, ...], expected: set[str]) -> None:
    assert _loaded(*args) == expected


def test_help_still_lists_every_service() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vigie.cli", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for name in ("ingest", "api", "alerts", "camera", "simulate", "up", "migrate", "stations"):
        assert name in out
