"""Fixtures to run the real ingest service as its own process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Broker, Service


@pytest.fixture
def ingest_env(service_env: dict[str, str], broker: Broker) -> dict[str, str]:
    """Env for an ingest process with its own client id and share group (no cross-test sessions)."""
    tag = uuid.uuid4().hex[:8]
    return {
        **service_env,
        "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
        "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}",
        "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
        # The documented examples carry fixed dates; keep them inside retention for years.
        "VIGIE_INGEST__RAW_RETENTION_DAYS": "3650",
    }


@pytest.fixture
def make_ingest(ingest_env: dict[str, str], tmp_path: Path) -> Callable[..., Service]:
    """Factory for ingest processes; extra env overrides per call."""
    counter = iter(range(1000))

    def factory(**overrides: str) -> Service:
        n = next(counter)
        return Service(["ingest"], {**ingest_env, **overrides}, tmp_path / f"ingest-{n}.log")

    return factory
