"""Fixtures: a fresh TimescaleDB database per test, one real Mosquitto per session."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.support import (
    PG_ADMIN_URL,
    Broker,
    DbLogins,
    create_database,
    db_url,
    drop_database,
    drop_stale_test_logins,
    free_port,
    seal_template,
)
from vigie.logins import drop_logins, ensure_logins
from vigie.migrate import migrate


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database with every migration applied, copied for each test."""
    name = create_database()
    migrate(db_url(name))
    seal_template(name)
    yield name
    drop_database(name)


@pytest.fixture
def database_url(template_db: str) -> Iterator[str]:
    """URL of a new, migrated database that only this test uses."""
    name = create_database(template=template_db)
    yield db_url(name)
    drop_database(name)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to this test's database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def db_logins(template_db: str) -> Iterator[DbLogins]:
    """Service logins for this session only: logins are cluster-wide and other sessions (and
    the demo) share the server, so each session has its own names and passwords, which expire
    after a day in case the session dies before dropping them."""
    drop_stale_test_logins()
    prefix = f"vigie_t{uuid.uuid4().hex[:8]}_"
    directory = Path(tempfile.mkdtemp(prefix="vigie-db-"))
    path = directory / "db-credentials.env"
    passwords = ensure_logins(
        PG_ADMIN_URL, path, prefix, restrict_connect=False,
        valid_until=datetime.now(UTC) + timedelta(days=1),
    )
    yield DbLogins(prefix, path, passwords)
    drop_logins(PG_ADMIN_URL, prefix)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def service_db_url(database_url: str, db_logins: DbLogins) -> Callable[[str], str]:
    """service -> URL of this test's database as that service's login (its grants only)."""
    return lambda service: db_logins.url(database_url, service)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    """The project's Mosquitto configuration, running for one test module.

    One broker per module keeps retained messages and persistent sessions of one module from
    leaking into another's assertions; starting Mosquitto takes a few milliseconds."""
    # Not under pytest's tmp dir: that is root-only (0700), and Mosquitto started as root
    # drops to the 'mosquitto' user, which must reach its files.
    directory = Path(tempfile.mkdtemp(prefix="vigie-mosquitto-"))
    directory.chmod(0o755)
    b = Broker(directory, free_port())
    b.start()
    yield b
    b.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def service_env(
    database_url: str, db_logins: DbLogins, broker: Broker, tmp_path: Path
) -> dict[str, str]:
    """Environment for a service process pointed at this test's database and the test broker.

    The URL is the admin's (the migration login, for `vigie up`); with the credentials file,
    each service logs in as its own role, so service tests run on the real grants."""
    return {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_DATABASE_CREDENTIALS_FILE": str(db_logins.credentials_file),
        "VIGIE_DATABASE_LOGIN_PREFIX": db_logins.prefix,
        "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
        "VIGIE_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "PATH": os.environ.get("PATH", ""),
    }
