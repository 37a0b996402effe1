"""Fixtures: a fresh TimescaleDB database per test, one real Mosquitto per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import (
    Broker,
    create_database,
    db_url,
    drop_database,
    free_port,
    seal_template,
)
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
def service_env(database_url: str, broker: Broker, tmp_path: Path) -> dict[str, str]:
    """Environment for a service process pointed at this test's database and the test broker."""
    return {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
        "VIGIE_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "PATH": os.environ.get("PATH", ""),
    }
