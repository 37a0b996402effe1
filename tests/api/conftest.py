"""An API client on the real database, with the lifespan running."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from tests.support import Broker
from vigie.settings import ApiSettings, Settings

ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture
def api_settings(service_db_url: Callable[[str], str], broker: Broker) -> Settings:
    """Settings for an API bound to this test's database, as the API's login (its grants only),
    and to the test broker."""
    return Settings(
        database_url=SecretStr(service_db_url("api")),
        mqtt_url=SecretStr(broker.url("vigie-api")),
        api=ApiSettings(admin_token=SecretStr(ADMIN_TOKEN)),
    )


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """A TestClient that sends no token (tests add headers=ADMIN where needed)."""
    with TestClient(create_app(api_settings)) as c:
        yield c


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
