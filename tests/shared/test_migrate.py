"""Migrations: applied once, recorded, idempotent; the seeded communes are the 16 of the CC."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from tests.factories import make_station
from tests.support import create_database, db_url, drop_database
from vigie.errors import ConflictError, ValidationFailed
from vigie.migrate import Migration, MigrationFailed, available, migrate, pending


def test_migrate_is_idempotent(database_url: str) -> None:
    assert migrate(database_url) == []


def test_all_migrations_recorded(db: psycopg.Connection[tuple[object, ...]]) -> None:
    recorded = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert recorded == [m.version for m in available()]


def test_sixteen_communes_with_plausible_insee_codes(
    db: psycopg.Connection[tuple[object, ...]],
) -> None:
    rows = db.execute("SELECT insee, name FROM communes").fetchall()
    assert len(rows) == 16
    names = {str(n) for _, n in rows}
    assert {"Thourotte", "Vandélicourt", "Le Plessis-Brion", "Mélicocq"} <= names

    # INSEE numbers communes of a département in alphabetical order (articles ignored), so
    # sorting by name must sort the codes too: a cheap check against a mistyped code.
    def key(name: str) -> str:
        return name.removeprefix("Le ").replace("é", "e").replace("è", "e").lower()

    by_name = sorted(rows, key=lambda r: key(str(r[1])))
    codes = [str(c) for c, _ in by_name]
    assert codes == sorted(codes)


def test_rain_readings_is_a_hypertable(db: psycopg.Connection[tuple[object, ...]]) -> None:
    row = db.execute(
        "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name IN"
        " ('rain_readings', 'rain_5min', 'rain_1h')"
    ).fetchone()
    assert row == (3,)


def test_station_validation(db: psycopg.Connection[tuple[object, ...]]) -> None:
    make_station(db, "thourotte-mairie")
    with pytest.raises(ConflictError):
        make_station(db, "thourotte-mairie")
    with pytest.raises(ValidationFailed):
        make_station(db, "paris-1", commune="60999")


def test_failed_upgrade_leaves_the_database_as_it_was() -> None:
    """Two pending migrations, the second broken: neither is applied, the first's table is gone."""
    name = create_database()
    url = db_url(name)
    try:
        migrate(url, up_to=140)
        before = pending(url)
        good = Migration(998, "adds_a_table", "CREATE TABLE upgrade_probe (x int);")
        bad = Migration(999, "broken", "ALTER TABLE no_such_table ADD COLUMN y int;")
        with pytest.raises(MigrationFailed, match=r"999_broken.*base inchangée"):
            migrate(url, source=[*available(), good, bad])
        with psycopg.connect(url) as conn:
            probe = conn.execute("SELECT to_regclass('upgrade_probe')").fetchone()
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert probe == (None,)
        assert max(versions) == 140  # 150+ were pending in the same run: not applied either
        assert pending(url) == before and before
    finally:
        drop_database(name)


def test_migrate_check_says_what_would_run() -> None:
    name = create_database()
    url = db_url(name)
    try:
        migrate(url, up_to=140)

        def check() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "vigie.cli", "migrate", "--check"],
                env={**os.environ, "VIGIE_DATABASE_URL": url},
                capture_output=True, text=True, timeout=60, check=False,
            )

        first = check()
        assert first.returncode == 1 and "150_communes_insee" in first.stdout
        assert "001_core" not in first.stdout
        migrate(url)
        second = check()
        assert second.returncode == 0 and "0 migration(s)" in second.stdout
    finally:
        drop_database(name)
