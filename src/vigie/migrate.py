"""Numbered SQL migrations, applied in order inside one advisory lock and recorded in a table.

Files live in vigie/migrations/NNN_name.sql. A file may be shared by every service; a service that
owns extra tables adds its own files with its own numbers in the same folder, so the order is one
global order. Applied files are checksummed: editing one that was applied is an error. After the
files, the grants registry (vigie.grants, the *.grants.toml beside them) is applied again in full.

Migrating takes the migration login (a superuser, or a member of vigie_owner once the first
migrations ran). Services log in as their own roles, which cannot migrate: they only check that
the schema is current (ensure_current).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import psycopg

from vigie.db import APP_MIGRATE, connect
from vigie.errors import ConfigError
from vigie.grants import OWNER_ROLE, apply_grants

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")
# Any fixed 64-bit key, so two services starting at once do not both migrate.
_LOCK_KEY = 0x76696769_65000001


@dataclass(frozen=True)
class Migration:
    """One SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """Every migration shipped in the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("vigie.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"two migrations share a number: {versions}")
    return found


_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())"
)


def _pending(
    conn: psycopg.Connection[tuple[object, ...]], source: Sequence[Migration], up_to: int | None
) -> list[Migration]:
    """The migrations of `source` not applied yet; an applied file that changed is an error."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    done: dict[int, str] = {}
    if exists and exists[0]:
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        done = {int(str(v)): str(c) for v, c in rows}
    todo = []
    for mig in source:
        if up_to is not None and mig.version > up_to:
            break
        if mig.version in done:
            if done[mig.version] != mig.checksum:
                raise ConfigError(f"migration {mig.version:03d}_{mig.name} changed after it was applied")
            continue
        todo.append(mig)
    return todo


def pending(url: str, *, source: Sequence[Migration] | None = None) -> list[str]:
    """The names `migrate` would apply now, without applying anything (`vigie migrate --check`)."""
    with connect(url, application_name=APP_MIGRATE, autocommit=True) as conn:
        return [f"{m.version:03d}_{m.name}" for m in _pending(conn, source or available(), None)]


def migrate(url: str, *, up_to: int | None = None, source: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations (those numbered up to `up_to` only, when given); return the names
    applied (empty when up to date). `up_to` lets a test seed data that a later migration fixes.

    All pending migrations run in ONE transaction: an upgrade that fails anywhere leaves the
    database exactly as it was, never half-upgraded (PostgreSQL's DDL is transactional, and so
    are TimescaleDB's create_hypertable and policies)."""
    with connect(url, application_name=APP_MIGRATE, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            with conn.transaction():
                conn.execute(_TABLE)
                todo = _pending(conn, source or available(), up_to)
                for mig in todo:
                    try:
                        conn.execute(mig.sql.encode())
                    except psycopg.Error as e:
                        raise MigrationFailed(f"{mig.version:03d}_{mig.name}", e) from e
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s,%s,%s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                    log.info("applied migration %03d_%s", mig.version, mig.name)
                # Grants in the same transaction: a schema object without a decision undoes the
                # upgrade. Skipped for a partial or substituted list of migrations (tests), whose
                # schema the registry does not describe.
                if up_to is None and source is None:
                    apply_grants(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return [f"{m.version:03d}_{m.name}" for m in todo]


class MigrationFailed(ConfigError):
    """A migration's SQL failed; nothing of this upgrade was applied."""

    def __init__(self, name: str, cause: psycopg.Error) -> None:
        first_line = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(f"migration {name} a échoué, base inchangée : {first_line}")
        self.migration = name


def can_migrate(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """True for a superuser or a member of the owner role; never for a service role."""
    row = conn.execute(
        "SELECT rolsuper OR EXISTS (SELECT 1 FROM pg_roles o WHERE o.rolname = %s"
        " AND pg_has_role(current_user, o.oid, 'MEMBER')) FROM pg_roles WHERE rolname = current_user",
        (OWNER_ROLE,),
    ).fetchone()
    return bool(row and row[0])


def ensure_current(url: str) -> list[str]:
    """At a service's start: migrate when this login may (a single-login set-up), otherwise
    refuse to run on a schema that `vigie migrate` has not brought up to date."""
    with connect(url, application_name=APP_MIGRATE, autocommit=True) as conn:
        if not can_migrate(conn):
            missing = [f"{m.version:03d}_{m.name}" for m in _pending(conn, available(), None)]
            if missing:
                raise ConfigError(
                    f"database schema not current ({len(missing)} migration(s) pending: "
                    f"{', '.join(missing)}); run `vigie migrate` with the migration login"
                )
            return []
    return migrate(url)
