"""Test support shared by every test module: real services, started for real, and small helpers.

TimescaleDB: the project's own server (scripts/timescaledb.sh); each test gets a fresh database
copied from a migrated template. Mosquitto: one broker per test session on a free port, with the
project's real configuration (password file, ACL, persistence), so tests never collide with the
demo broker or with each other's topics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import psycopg.sql

from vigie.broker import LocalBroker
from vigie.db import with_login
from vigie.grants import login_name

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get(
    "VIGIE_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:55432/postgres"
)


def db_url(name: str) -> str:
    """The admin URL pointed at another database."""
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def create_database(template: str | None = None) -> str:
    """Create a uniquely named database (optionally from a template); return its name."""
    name = f"vigie_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return name


def seal_template(name: str) -> None:
    """Forbid connections to a template and end the ones open (TimescaleDB's background
    scheduler keeps one), since CREATE DATABASE … TEMPLATE needs it unused."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


def drop_database(name: str) -> None:
    """Drop a test database, disconnecting whoever is still on it."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_stale_test_logins() -> None:
    """Drop the service logins of test sessions that died more than a day ago (they expire)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        stale = conn.execute(
            r"SELECT rolname FROM pg_roles WHERE rolname ~ '^vigie_t[0-9a-f]{8}_[a-z]+$'"
            " AND rolvaliduntil < now()"
        ).fetchall()
        for (name,) in stale:
            try:
                conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(str(name))))
            except psycopg.errors.DependentObjectsStillExist:
                pass  # still granted CONNECT on a database left behind; expired all the same


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll predicate until it returns a truthy value; fail the test with a timeout otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)


@dataclass(frozen=True)
class DbLogins:
    """This test session's own service logins (members of vigie_ingest, …) and their file."""

    prefix: str
    credentials_file: Path
    passwords: dict[str, str]

    def url(self, database_url: str, service: str) -> str:
        login = login_name(self.prefix, service)
        return with_login(database_url, login, self.passwords[login])


@dataclass
class Broker(LocalBroker):
    """The project's broker for tests, with the gateway accounts the tests publish through;
    device passwords are made up when not given."""

    gateways: tuple[str, ...] = ("vigie-simulator", "chirpstack")

    def __post_init__(self) -> None:
        while self.device_port in (None, self.port):
            self.device_port = free_port()

    def add_device(self, station_id: str, password: str | None = None) -> str:
        return super().add_device(station_id, password or uuid.uuid4().hex)


@dataclass
class Service:
    """A Vigie service run as its own process, exactly as `vigie up` runs it."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigie.cli", *self.args],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 20.0, count: int = 1) -> None:
        """Wait until the service's log contains text (count times); fail if it died first."""

        def seen() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}:\n{self.log()}")
            return self.log().count(text) >= count

        wait_for(seen, timeout=timeout)


@contextmanager
def running(service: Service, ready: str | None = None) -> Iterator[Service]:
    """Start a service and wait for its `ready` log line; always stop it (SIGKILL if SIGTERM fails)."""
    service.start()
    if ready:
        service.wait_log(ready)
    try:
        yield service
    finally:
        assert service.proc is not None
        if service.proc.poll() is None:
            service.proc.send_signal(signal.SIGTERM)
            try:
                service.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.proc.kill()
                service.proc.wait()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(coro) in a thread of its own. In a pytest worker that has run a browser test,
    Playwright's sync API keeps an event loop running in the main thread, and asyncio.run refuses
    to start there ('cannot be called from a running event loop'): make test deals tests to two
    workers, so any test may run after a browser test."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
