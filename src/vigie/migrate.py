"""Numbered SQL migrations, applied in order inside one advisory lock and recorded in a table.

Files live in vigie/migrations/NNN_name.sql. A file may be shared by every service; a service that
owns extra tables adds its own files with its own numbers in the same folder, so the order is one
global order. Applied files are checksummed: editing one that was applied is an error.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

from vigie.db import APP_MIGRATE, connect
from vigie.errors import ConfigError

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


def migrate(url: str) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    applied_now: list[str] = []
    with connect(url, application_name=APP_MIGRATE, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                int(v): str(c)
                for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")
            }
            for mig in available():
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise ConfigError(
                            f"migration {mig.version:03d}_{mig.name} changed after it was applied"
                        )
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s,%s,%s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                log.info("applied migration %03d_%s", mig.version, mig.name)
                applied_now.append(f"{mig.version:03d}_{mig.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
