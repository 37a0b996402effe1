"""MicroPython for the firmware's tests: missing is a failure in CI, a clear skip elsewhere."""

from __future__ import annotations

import os

import pytest

from tests.firmware.micropython import MicroPythonMissing, interpreter


@pytest.fixture(scope="session")
def micropython() -> None:
    """Fail (CI) or skip (a developer's machine without it) when MicroPython is missing."""
    try:
        interpreter()
    except MicroPythonMissing as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{e}: make test installs it (scripts/micropython.sh)")
        pytest.skip(f"{e} (make test installs it: scripts/micropython.sh)")
