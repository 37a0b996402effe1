"""Database connections: one place that turns settings into psycopg connections and pools.

Every connection names its service in application_name, so that pg_stat_activity says who is
who (and which service holds a lock or a long transaction).
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any, TypeAlias
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from vigie.broker import read_credentials
from vigie.errors import ConfigError
from vigie.grants import login_name
from vigie.settings import Settings

log = logging.getLogger(__name__)

# application_name of each service's connections (and of the commands that are not services).
APP_INGEST = "vigie-ingest"
APP_ALERTS_ENGINE = "vigie-alerts-engine"  # its LISTEN loop
APP_ALERTS_SWEEP = "vigie-alerts-sweep"  # its minute sweep
APP_NOTIFIER = "vigie-notifier"
APP_CAP = "vigie-cap"
APP_ALERTS_EXERCISE = "vigie-alerts-exercise"  # the PCS exercise player (alerts.exercise)
APP_CAMERA = "vigie-camera"
APP_API = "vigie-api"
APP_API_READ = "vigie-api-read"  # its pool on the read replica (api.read_database_url)
APP_SUPERVISOR = "vigie-up"
APP_MIGRATE = "vigie-migrate"
APP_CLI = "vigie-cli"
APP_BACKUP = "vigie-backup"  # vigie backup / vigie restore
APP_SIMULATOR = "vigie-simulator"  # the demo's gauge fleet, when it registers its stations

# What async query functions take: the caller opens the connection (and the transaction).
AsyncConn: TypeAlias = psycopg.AsyncConnection[Any]

# A database that does not answer a connection in this long is treated as down; the callers
# retry with their own backoff rather than hang (a hung connect would stall their loop).
CONNECT_TIMEOUT_S = 10


def connect(
    url: str,
    *,
    application_name: str,
    autocommit: bool = False,
    connect_timeout: int = CONNECT_TIMEOUT_S,
) -> psycopg.Connection[tuple[Any, ...]]:
    """Open one connection; application_name makes each service visible in pg_stat_activity."""
    return psycopg.connect(
        url,
        autocommit=autocommit,
        application_name=application_name,
        connect_timeout=connect_timeout,
    )


def close_quietly(conn: psycopg.Connection[Any] | None) -> None:
    """Close a connection that may already be broken: the caller is dropping it anyway."""
    if conn is not None:
        try:
            conn.close()
        except psycopg.Error:
            pass


def wait_until_ready(url: str, timeout_s: float = 60.0, *, application_name: str = APP_CLI) -> None:
    """Block until the database accepts connections, or raise after timeout_s."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            with connect(url, application_name=application_name, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def make_pool(
    url: str,
    *,
    name: str,
    min_size: int = 1,
    max_size: int = 4,
    autocommit: bool = False,
    timeout_s: float = 30.0,
    check: bool = False,
    max_idle_s: float = 600.0,
) -> ConnectionPool:
    """A closed sync pool named for its service; the owner calls open() (and wait()).

    check: test each connection as it is handed out (a pool that outlives database restarts).
    max_idle_s: psycopg_pool closes at most ONE connection above min_size per such interval, and
    only if the pool always had one idle during it: after a burst, a pool shrinks by one a period.
    """
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        timeout=timeout_s,
        max_idle=max_idle_s,
        check=ConnectionPool.check_connection if check else None,
        kwargs={
            "application_name": name,
            "autocommit": autocommit,
            "connect_timeout": CONNECT_TIMEOUT_S,
        },
    )


# A connection handed out this recently is handed out again without the check's round trip:
# it was alive then, and a database restart takes longer than this. If the server crashed in
# between, the request fails once with the French 503 and the pool throws the connection away.
# Under load (bench-api: 200 requests/s) each connection comes back every few ms, and the check
# was a tenth of the API's CPU per request. The time is noted at hand-out, in the check itself:
# a `reset` callback would note it at return, but it makes the pool return every connection
# through its worker tasks, a task hop per request.
RECENT_USE_S = 1.0
_handed_out_at: weakref.WeakKeyDictionary[AsyncConn, float] = weakref.WeakKeyDictionary()


async def _check_unless_recent(conn: AsyncConn) -> None:
    now = time.monotonic()
    last = _handed_out_at.get(conn)
    if last is None or conn.broken or now - last >= RECENT_USE_S:
        await AsyncConnectionPool.check_connection(conn)
    _handed_out_at[conn] = now


def make_async_pool(
    url: str, *, name: str, min_size: int = 1, max_size: int = 8, autocommit: bool = False
) -> AsyncConnectionPool:
    """A closed async pool named for its service; the FastAPI lifespan opens and closes it.

    A connection is checked as it is handed out (one empty round trip) unless it was handed out
    less than RECENT_USE_S ago: without the check, after a fast restart of the database the pool
    handed out its dead connections one request at a time and /healthz said `database: false`
    for about 35 s (issue 14).

    autocommit: for a pool that only reads. A read then costs its own round trips only; in a
    transactional pool each checkout also pays a BEGIN and a COMMIT. Reads that need one snapshot
    open it themselves (`conn.transaction()`)."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        check=_check_unless_recent,
        kwargs={"application_name": name, "connect_timeout": CONNECT_TIMEOUT_S, "autocommit": autocommit},
    )


def timescale_license(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """'apache' (Debian's build) or 'timescale' (community: compression, policies)."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return str(row[0]) if row and row[0] else "apache"


def with_login(url: str, user: str, password: str) -> str:
    """The same database as url, as another login (URL or key=value form)."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return make_conninfo(url, user=user, password=password)


def service_database_url(settings: Settings, service: str, url: str | None = None) -> str:
    """The URL a service connects with: its own login from the credentials file when one is set
    (see Settings.database_credentials_file), otherwise database_url as it is. `url` is another
    server of the same cluster (the API's read replica: a physical copy, same logins)."""
    url = settings.database_url.get_secret_value() if url is None else url
    path = settings.database_credentials_file
    if path is None:
        return url
    if not path.exists():
        raise ConfigError(f"database credentials file {path} does not exist (run `vigie db roles`)")
    login = login_name(settings.database_login_prefix, service)
    password = read_credentials(path).get(login)
    if password is None:
        raise ConfigError(f"no password for database login {login!r} in {path} (run `vigie db roles`)")
    return with_login(url, login, password)
