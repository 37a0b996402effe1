"""The grants registry covers every object of the migrated schema, and the database holds exactly
what it declares: a new table without a grant decision stops `vigie migrate`."""

from __future__ import annotations

import psycopg
import pytest

from tests.factories import make_station
from vigie.errors import ConfigError
from vigie.grants import (
    OWNER_ROLE,
    SERVICES,
    _parse,
    declared,
    problems,
    schema_objects,
    service_role,
)
from vigie.migrate import migrate

Conn = psycopg.Connection[tuple[object, ...]]
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def test_every_object_of_the_schema_has_a_decision_for_each_service(db: Conn) -> None:
    objects = schema_objects(db)
    # The schema as of this branch: 27 tables and views, 3 functions, a sequence per bigserial.
    assert len([o for o in objects if o.kind in ("table", "view")]) >= 27
    names = {o.name for o in objects}
    assert {"rain_readings", "subscribers", "cameras", "incident_delivery_log"} <= names
    assert problems(objects, declared()) == []
    for decision in declared().values():
        assert set(decision.privileges) == set(SERVICES)


def test_a_new_table_without_grants_stops_migrate_and_says_where_to_declare_it(
    database_url: str, db: Conn
) -> None:
    db.execute("CREATE TABLE scratch_accounts (id int PRIMARY KEY)")
    with pytest.raises(ConfigError) as caught:
        migrate(database_url)
    message = str(caught.value)
    assert "table scratch_accounts has no grant decision" in message
    assert ".grants.toml" in message and "ingest = [...]" in message
    # Refused as a whole: nothing was handed over or granted.
    owner = db.execute("SELECT relowner::regrole::text FROM pg_class WHERE relname = 'scratch_accounts'")
    assert owner.fetchone() == ("postgres",)


def test_a_view_or_function_without_grants_is_reported_too(db: Conn) -> None:
    db.execute("CREATE VIEW scratch_view AS SELECT 1 AS one")
    db.execute("CREATE FUNCTION scratch_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    db.execute("CREATE SEQUENCE scratch_free_seq")
    found = problems(schema_objects(db), declared())
    assert any(p.startswith("view scratch_view has no grant decision") for p in found)
    assert any(p.startswith("function scratch_fn has no grant decision") for p in found)
    assert any(p.startswith("sequence scratch_free_seq has no grant decision") for p in found)


def test_registry_lines_must_decide_for_every_service() -> None:
    with pytest.raises(ConfigError, match="must give a decision for each of ingest, alerts, camera, api"):
        _parse("300_x.grants.toml", '[relations]\nx = { ingest = [], alerts = [], api = [] }\n')
    with pytest.raises(ConfigError, match="unknown section"):
        _parse("300_x.grants.toml", '[tables]\nx = { ingest = [], alerts = [], camera = [], api = [] }\n')
    with pytest.raises(ConfigError, match="list of privileges"):
        _parse("300_x.grants.toml", '[relations]\nx = { ingest = "ALL", alerts = [], camera = [], api = [] }')


def test_a_privilege_that_does_not_fit_the_object_is_refused(db: Conn) -> None:
    registry = declared()
    bad = _parse(
        "300_x.grants.toml",
        '[relations]\nstations = { ingest = ["EXECUTE"], alerts = [], camera = [], api = [] }\n'
        '[functions]\nvigie_acknowledge_incident = { ingest = ["SELECT"], alerts = [], camera = [],'
        " api = [] }\n",
    )
    for decision in bad:
        registry[(decision.section, decision.name)] = decision
    found = problems(schema_objects(db), registry)
    assert "300_x.grants.toml: stations.ingest: 'EXECUTE' cannot be granted on a table" in found
    assert (
        "300_x.grants.toml: vigie_acknowledge_incident.ingest: 'SELECT' cannot be granted on a function"
        in found
    )


def test_a_declared_object_missing_from_the_schema_is_reported(db: Conn) -> None:
    registry = declared()
    line = "ghost = { ingest = [], alerts = [], camera = [], api = [] }"
    (ghost,) = _parse("300_x.grants.toml", f"[relations]\n{line}\n")
    registry[("relations", "ghost")] = ghost
    assert "300_x.grants.toml: ghost is not in the schema" in problems(schema_objects(db), registry)


def test_the_owner_role_owns_everything_and_no_service_role_owns_anything(db: Conn) -> None:
    owners = {o.name: o.owner for o in schema_objects(db)}
    assert set(owners.values()) == {OWNER_ROLE}
    roles = [service_role(s) for s in SERVICES]
    row = db.execute(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner::regrole::text = ANY(%s))"
        " + (SELECT count(*) FROM pg_proc WHERE proowner::regrole::text = ANY(%s))",
        (roles, roles),
    ).fetchone()
    assert row == (0,)
    # Chunks of the hypertables too, or drop_chunks as the owner would fail.
    make_station(db, "thourotte-mairie")
    db.execute(
        "INSERT INTO rain_readings (station_id, ts, interval_s, received_at)"
        " VALUES ('thourotte-mairie', now(), 300, now())"
    )
    chunks = db.execute(
        "SELECT DISTINCT relowner::regrole::text FROM pg_class"
        " WHERE relnamespace = '_timescaledb_internal'::regnamespace AND relkind = 'r'"
        "   AND relname LIKE '\\_hyper\\_%%'"
    ).fetchall()
    assert chunks == [(OWNER_ROLE,)]


def test_database_privileges_are_exactly_the_declared_ones(db: Conn) -> None:
    """Nothing more (no PUBLIC grant, no leftover) and nothing less than the registry says."""
    registry = declared()
    checked = 0
    for obj in schema_objects(db):
        if obj.kind == "sequence":
            continue  # column sequences follow their table: see test_db_roles (inserts work)
        decision = registry[(obj.section, obj.name)]
        for service in SERVICES:
            role = service_role(service)
            granted = decision.privileges[service]
            if obj.kind == "function":
                (has,) = db.execute(
                    "SELECT has_function_privilege(%s, %s::regproc::oid, 'EXECUTE')", (role, obj.name)
                ).fetchone() or (None,)
                assert has == ("EXECUTE" in granted), (obj.name, service)
                checked += 1
                continue
            for privilege in TABLE_PRIVILEGES:
                (has,) = db.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", (role, f"public.{obj.name}", privilege)
                ).fetchone() or (None,)
                assert has == (privilege in granted), (obj.name, service, privilege)
                checked += 1
            for privilege in (p for p in granted if "(" in p):
                word, _, columns = privilege.partition("(")
                for column in columns.rstrip(")").split(","):
                    (has,) = db.execute(
                        "SELECT has_column_privilege(%s, %s, %s, %s)",
                        (role, f"public.{obj.name}", column.strip(), word.strip()),
                    ).fetchone() or (None,)
                    assert has, (obj.name, service, privilege, column)
    assert checked >= 27 * 4 * len(TABLE_PRIVILEGES)
