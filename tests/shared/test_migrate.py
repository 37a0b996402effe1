"""Migrations: applied once, recorded, idempotent; the seeded communes are the 16 of the CC."""

from __future__ import annotations

import psycopg
import pytest

from tests.factories import make_station
from vigie.errors import ConflictError, ValidationFailed
from vigie.migrate import available, migrate


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
