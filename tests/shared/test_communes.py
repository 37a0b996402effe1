"""The territory's communes: the seeded table equals the official INSEE list, and migration 150
moved every reference off the four codes that 001_core had wrong."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support import create_database, db_url, drop_database
from vigie.communes import OUTLINES_CREDIT, official_communes, outlines_geojson
from vigie.migrate import migrate

WRONG_TO_RIGHT = {"60393": "60392", "60420": "60423", "60491": "60492", "60578": "60582"}


def test_seeded_communes_are_the_official_list(db: psycopg.Connection[tuple[object, ...]]) -> None:
    rows = db.execute("SELECT insee, name, population FROM communes ORDER BY insee").fetchall()
    official = [(c.insee, c.name, c.population) for c in official_communes()]
    assert rows == official
    assert len(official) == 16
    assert all(c.population > 0 and c.postal_codes for c in official_communes())


def test_outlines_cover_the_same_sixteen_codes() -> None:
    features = outlines_geojson()["features"]
    assert sorted(f["properties"]["code"] for f in features) == [c.insee for c in official_communes()]
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in features)
    assert "Licence Ouverte" in OUTLINES_CREDIT


@pytest.fixture
def at_140() -> Iterator[str]:
    """A database migrated up to 140, before the fix: it still holds the wrong codes."""
    name = create_database()
    url = db_url(name)
    migrate(url, up_to=140)
    yield url
    drop_database(name)


def test_migration_150_rewrites_every_reference(at_140: str) -> None:
    cap_xml = (
        "<alert><info><area><geocode><valueName>INSEE</valueName>\n  <value>60393</value></geocode>"
        "<geocode><valueName>INSEE</valueName><value>60578</value></geocode>"
        "<geocode><valueName>INSEE</valueName><value>60636</value></geocode></area></info></alert>"
    )
    with psycopg.connect(at_140, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO stations (id, name, commune_insee, lat, lon)"
            " VALUES ('pimprez-ecole', 'École', '60491', 49.52, 2.95)"
        )
        conn.execute(
            "INSERT INTO catchments (id, name, area_km2, cn2, communes)"
            " VALUES ('matz', 'Matz', 12.5, 75, '{60636,60420,60578}')"
        )
        conn.execute(
            "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params)"
            " SELECT 'Mélicocq 1 h', kind, 'commune', '60393', level, params FROM rules LIMIT 1"
        )
        rule_id = conn.execute("SELECT id FROM rules WHERE scope_id = '60393'").fetchone()
        assert rule_id is not None
        conn.execute(
            "INSERT INTO rule_state (rule_id, scope_kind, scope_id, evaluated_at)"
            " VALUES (%s, 'commune', '60393', now())",
            rule_id,
        )
        conn.execute(
            "INSERT INTO incidents (rule_id, kind, group_key, scope_kind, scope_id, level, communes,"
            " title, opened_at, updated_at, level_since, max_level)"
            " VALUES (%s, 'cumul', 'g', 'commune', '60393', 'yellow', '{60393,60636}', 't',"
            " now(), now(), now(), 'yellow') RETURNING id",
            rule_id,
        )
        incident = conn.execute("SELECT id FROM incidents").fetchone()
        change = conn.execute(
            "INSERT INTO incident_changes (incident_id, at, kind, level) VALUES (%s, now(), 'opened',"
            " 'yellow') RETURNING id",
            incident,
        ).fetchone()
        assert incident is not None and change is not None
        conn.execute(
            "INSERT INTO cap_messages (incident_id, incident_change_id, identifier, sender, msg_type,"
            " sent, headline, xml) VALUES (%s, %s, 'id-1', 'vigie', 'Alert', now(), 'h', %s)",
            (incident[0], change[0], cap_xml),
        )
        conn.execute("INSERT INTO subscribers (name, communes) VALUES ('Mairie', '{60420}')")

    assert migrate(at_140) != []

    with psycopg.connect(at_140, autocommit=True) as conn:

        def one(sql: str) -> object:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return row[0]

        assert one("SELECT commune_insee FROM stations") == "60492"
        assert one("SELECT communes FROM catchments") == ["60636", "60423", "60582"]
        assert one("SELECT scope_id FROM rules WHERE name = 'Mélicocq 1 h'") == "60392"
        assert one("SELECT scope_id FROM rule_state") == "60392"
        assert one("SELECT scope_id FROM incidents") == "60392"
        assert one("SELECT communes FROM incidents") == ["60392", "60636"]
        assert one("SELECT communes FROM subscribers") == ["60423"]
        xml = str(one("SELECT xml FROM cap_messages"))
        assert "<value>60392</value>" in xml and "<value>60582</value>" in xml
        assert "<value>60636</value>" in xml
        assert not any(f"<value>{old}</value>" in xml for old in WRONG_TO_RIGHT)
        codes = {str(r[0]) for r in conn.execute("SELECT insee FROM communes")}
        assert codes == {c.insee for c in official_communes()}
