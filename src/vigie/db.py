"""Database connections: one place that turns settings into psycopg connections and pools."""

from __future__ import annotations

import logging
import time
from typing import Any, TypeAlias

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

log = logging.getLogger(__name__)

# What async query functions take: the caller opens the connection (and the transaction).
AsyncConn: TypeAlias = psycopg.AsyncConnection[Any]


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """Open one connection; application_name makes each service visible in pg_stat_activity."""
    return psycopg.connect(url, autocommit=autocommit)


def wait_until_ready(url: str, timeout_s: float = 60.0) -> None:
    """Block until the database accepts connections, or raise after timeout_s."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def make_pool(
    url: str, *, min_size: int = 1, max_size: int = 4, name: str = "vigie"
) -> ConnectionPool:
    """A closed sync pool; the owner calls open() and wait() in its start-up."""
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        kwargs={"application_name": name},
    )


def make_async_pool(
    url: str, *, min_size: int = 1, max_size: int = 8, name: str = "vigie"
) -> AsyncConnectionPool:
    """A closed async pool; the FastAPI lifespan opens and closes it."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        kwargs={"application_name": name},
    )


def timescale_license(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """'apache' (Debian's build) or 'timescale' (community: compression, policies)."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return str(row[0]) if row and row[0] else "apache"
