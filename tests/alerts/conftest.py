"""The alerts tests run the engine, the notifier and the CAP writer as the alerts login."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def alerts_url(service_db_url: Callable[[str], str]) -> str:
    """This test's database as the alerts service's login: only the grants of vigie_alerts."""
    return service_db_url("alerts")
