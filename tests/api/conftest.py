"""An API client on the real database, with the lifespan running.

Tokens are real API tokens stored hashed in the test's database: ADMIN is the token of an
account named "admin" holding the admin role; `role_headers` gives one per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from tests.factories import make_user
from tests.support import Broker
from vigie.settings import Settings

ADMIN_TOKEN = "vigie_test-admin-token-0123456789"
LOOPBACK = ("127.0.0.1", 50000)
ROLES = ("admin", "technician", "duty", "naturalist", "viewer")


def role_token(role: str) -> str:
    """The test token of the account that holds only `role`."""
    return ADMIN_TOKEN if role == "admin" else f"vigie_test-{role}-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_settings(database_url: str, service_db_url: Callable[[str], str], broker: Broker) -> Settings:
    """Settings for an API bound to this test's database as the API's login (its grants only),
    and to the test broker; one account per role (login = the role's name, e.g. "admin"), each
    with its API token (made through the admin connection: the fixture, not the API, seeds them)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for role in ROLES:
            make_user(conn, role, [role], token=role_token(role))
    return Settings(
        database_url=SecretStr(service_db_url("api")), mqtt_url=SecretStr(broker.url("vigie-api"))
    )


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """A TestClient that sends no token (tests add headers=ADMIN where needed), from 127.0.0.1."""
    with TestClient(create_app(api_settings), client=LOOPBACK) as c:
        yield c


ADMIN = bearer(ADMIN_TOKEN)
