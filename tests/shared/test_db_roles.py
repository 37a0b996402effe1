"""Each service's login, on a real connection, is refused outside its grants; services started
from the test environment really log in as their own roles; logins of one deployment cannot open
another's database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.factories import make_station
from tests.support import (
    PG_ADMIN_URL,
    DbLogins,
    Service,
    create_database,
    db_url,
    drop_database,
    running,
    wait_for,
)
from vigie.db import (
    APP_ALERTS_ENGINE,
    APP_ALERTS_EXERCISE,
    APP_ALERTS_SWEEP,
    APP_CAP,
    APP_NOTIFIER,
    with_login,
)
from vigie.grants import login_name
from vigie.logins import drop_logins, ensure_logins

Conn = psycopg.Connection[tuple[object, ...]]

READING = (
    "INSERT INTO rain_readings (station_id, ts, interval_s, received_at) VALUES ('x', now(), 300, now())"
)
RULE = (
    "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params)"
    " VALUES ('x', 'intensity', 'station', '*', 'red', '{\"raise\": 1, \"clear\": 0}')"
)

# (service, statement): each must be refused with "permission denied" (or "must be owner").
REFUSED: list[tuple[str, str]] = [
    # The API reads the data path but never writes it.
    ("api", READING),
    ("api", "DELETE FROM dead_letters"),
    # The API provisions, edits and retires stations, but never deletes one nor renames its id.
    ("api", "DELETE FROM stations"),
    ("api", "UPDATE stations SET id = 'renamed'"),
    # It acknowledges incidents, and may change nothing else about them.
    ("api", "UPDATE incidents SET level = 'red'"),
    ("api", "UPDATE incidents SET state = 'resolved'"),
    ("api", "SELECT source_url FROM cameras"),
    ("api", "SELECT * FROM cameras"),
    ("api", "UPDATE camera_health SET state = 'online'"),
    ("api", "SELECT * FROM rule_state"),
    ("api", "SELECT vigie_drop_raw_chunks(interval '1 day')"),
    # Ingest never sees subscribers (their channel URLs are secrets), rules or incidents.
    ("ingest", "SELECT * FROM subscribers"),
    ("ingest", "SELECT * FROM rules"),
    ("ingest", "SELECT * FROM incidents"),
    ("ingest", "SELECT source_url FROM cameras"),
    ("ingest", "INSERT INTO stations (id, name, commune_insee, lat, lon) VALUES ('e', 'x', '60636', 49, 2)"),
    ("ingest", "DELETE FROM rain_readings"),
    ("ingest", "UPDATE rain_readings SET mm = 0"),
    ("ingest", "SELECT drop_chunks('rain_readings', older_than => now())"),
    # The camera worker touches nothing outside its own tables.
    ("camera", "SELECT * FROM incidents"),
    ("camera", "SELECT * FROM subscribers"),
    ("camera", "INSERT INTO incident_changes (incident_id, at, kind, level) VALUES (1, now(), 'opened', '')"),
    ("camera", "SELECT * FROM stations"),
    ("camera", "SELECT * FROM rain_readings"),
    ("camera", "SELECT * FROM deliveries"),
    # The alert engine and notifier read the rain and write only their own tables.
    ("alerts", READING),
    ("alerts", "SELECT source_url FROM cameras"),
    ("alerts", "UPDATE subscribers SET channels = '[]'"),
    ("alerts", RULE),
    ("alerts", "DELETE FROM dead_letters"),
    ("alerts", "SELECT * FROM ingest_metrics"),
    # The timeline stays append-only for the engine: only the column its CAP row lock needs.
    ("alerts", "UPDATE incident_changes SET detail = '{}'"),
    ("alerts", "DELETE FROM incident_changes"),
    # The proof of warning: appended by the notifier's triggers; the API only reads it (to print
    # its head on the exported log).
    ("api", "INSERT INTO delivery_proof SELECT * FROM delivery_proof"),
    ("ingest", "SELECT * FROM delivery_proof"),
    ("camera", "SELECT * FROM delivery_proof"),
]

# Nobody but the migration login changes the schema.
SCHEMA_CHANGES = [
    "CREATE TABLE mine (x int)",
    "DROP TABLE stations",
    "ALTER TABLE stations ADD COLUMN x int",
    "TRUNCATE stations",
    "CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
]
SERVICES = ["ingest", "alerts", "camera", "api"]


def _refusals(url: str, statements: list[str]) -> dict[str, str]:
    """statement -> the error, for each statement that was NOT refused ('accepted')."""
    wrong: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            try:
                conn.execute(statement)
                wrong[statement] = "accepted"
            except psycopg.errors.InsufficientPrivilege as exc:
                if "permission denied" not in str(exc) and "must be owner" not in str(exc):
                    wrong[statement] = str(exc)
    return wrong


@pytest.mark.parametrize("service", SERVICES)
def test_each_role_is_refused_outside_its_grants(
    service_db_url: Callable[[str], str], service: str
) -> None:
    """One database per role (not per statement): a copy of the template costs about a second."""
    statements = [q for s, q in REFUSED if s == service] + SCHEMA_CHANGES
    assert len(statements) >= 10
    assert _refusals(service_db_url(service), statements) == {}


def test_a_role_cannot_hand_its_grants_on(db: Conn, service_db_url: Callable[[str], str]) -> None:
    with psycopg.connect(service_db_url("api"), autocommit=True) as api:
        api.execute("GRANT SELECT ON subscribers TO PUBLIC")  # only a warning: nothing granted
    row = db.execute("SELECT has_table_privilege('public', 'subscribers', 'SELECT')").fetchone()
    assert row == (False,)


def test_each_role_does_its_own_work(db: Conn, service_db_url: Callable[[str], str]) -> None:
    """One write per role in its own tables (the service tests do the rest under these roles)."""
    make_station(db, "thourotte-mairie")
    with psycopg.connect(service_db_url("ingest"), autocommit=True) as ingest:
        ingest.execute(
            "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, received_at)"
            " VALUES ('thourotte-mairie', now(), 300, 1, 0.2, now())"
        )
        ingest.execute(
            "INSERT INTO dead_letters (received_at, topic, payload, payload_size, reason)"
            " VALUES (now(), 't', '', 0, 'malformed_json')"
        )
    with psycopg.connect(service_db_url("camera"), autocommit=True) as camera:
        camera.execute(
            "INSERT INTO cameras (id, name, source_url, source_kind) VALUES ('c1', 'c', 'file:///x', 'file')"
        )
        camera.execute("INSERT INTO camera_events (camera_id, event_key, start_ts) VALUES ('c1', 'k', now())")
    with psycopg.connect(service_db_url("alerts"), autocommit=True) as alerts:
        (incident,) = alerts.execute(
            "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, title, opened_at,"
            " updated_at, level_since, max_level) VALUES ('accumulation', 'g', 'station',"
            " 'thourotte-mairie', 'yellow', 't', now(), now(), now(), 'yellow') RETURNING id"
        ).fetchone() or (None,)
    with psycopg.connect(service_db_url("api"), autocommit=True) as api:
        # /metrics: which cameras are enabled, and their health, but not their stream URLs.
        assert api.execute("SELECT id FROM cameras WHERE enabled").fetchall() == [("c1",)]
        ack = api.execute("SELECT vigie_acknowledge_incident(%s, 'technicien', 'vu')", (incident,))
        assert ack.fetchone() != (None,)
        api.execute(RULE)
        assert api.execute("SELECT count(*) FROM rain_readings").fetchone() == (1,)
        # Stations through the API (issue 10 §2): provision, edit, retire.
        api.execute(
            "INSERT INTO stations (id, name, commune_insee, lat, lon)"
            " VALUES ('api-made', 'x', '60636', 49.5, 2.9)"
        )
        api.execute(
            "UPDATE stations SET name = 'y', expected_interval_s = 600, active = false WHERE id = 'api-made'"
        )
    assert db.execute("SELECT acknowledged_by FROM incidents").fetchone() == ("technicien",)


def test_services_started_by_the_tests_log_in_as_their_own_role(
    db: Conn, service_env: dict[str, str], db_logins: DbLogins, tmp_path: Path
) -> None:
    env = {k: v for k, v in service_env.items() if k != "VIGIE_MQTT_URL"}
    alerts = Service(["alerts"], env, tmp_path / "alerts.log")
    database = str(db.info.dbname)

    def client_logins() -> dict[str, set[str]]:
        """application_name -> the logins it connected as, for this database's clients."""
        rows = db.execute(
            "SELECT application_name, usename FROM pg_stat_activity WHERE datname = %s"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
        seen: dict[str, set[str]] = {}
        for app, user in rows:
            seen.setdefault(str(app), set()).add(str(user))
        return seen

    # The service's start-up opens and closes a short connection (its schema check) before its
    # loops connect: wait for the loops' own, long-lived connections, then look at every client.
    loops = {APP_ALERTS_ENGINE, APP_ALERTS_SWEEP, APP_NOTIFIER, APP_CAP, APP_ALERTS_EXERCISE}
    with running(alerts):
        seen = wait_for(lambda: s if (s := client_logins()).keys() >= loops else {}, timeout=30)
        assert set().union(*seen.values()) == {login_name(db_logins.prefix, "alerts")}
    assert "postgres" not in set().union(*client_logins().values())


def test_logins_of_another_deployment_cannot_open_this_database(template_db: str, tmp_path: Path) -> None:
    """Group roles are shared by the cluster; CONNECT is what keeps two deployments apart."""
    tag = uuid.uuid4().hex[:8]
    a_db, b_db = create_database(template=template_db), create_database(template=template_db)
    a_prefix, b_prefix = f"vigie_t{tag}_", f"vigie_t{uuid.uuid4().hex[:8]}_"
    try:
        # Expiring, like the session's: a crash here leaves logins that a later session drops.
        until = datetime.now(UTC) + timedelta(days=1)
        a = ensure_logins(db_url(a_db), tmp_path / "a.env", a_prefix, valid_until=until)
        ensure_logins(db_url(b_db), tmp_path / "b.env", b_prefix, valid_until=until)
        a_api = login_name(a_prefix, "api")
        with psycopg.connect(with_login(db_url(a_db), a_api, a[a_api])) as conn:
            assert conn.execute("SELECT count(*) FROM communes").fetchone() == (16,)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(with_login(db_url(b_db), a_api, a[a_api])).close()
        # A rerun keeps the passwords (the file is the source) and the file stays private.
        assert ensure_logins(db_url(a_db), tmp_path / "a.env", a_prefix, valid_until=until) == a
        assert oct((tmp_path / "a.env").stat().st_mode & 0o777) == "0o600"
    finally:
        drop_database(a_db)
        drop_database(b_db)
        drop_logins(PG_ADMIN_URL, a_prefix)
        drop_logins(PG_ADMIN_URL, b_prefix)


def test_a_wrong_password_is_refused(service_db_url: Callable[[str], str], db_logins: DbLogins) -> None:
    """Service logins authenticate with SCRAM (scripts/timescaledb.sh writes pg_hba.conf); only the
    postgres superuser is trusted on loopback, for the tests' and the demo's admin."""
    login = login_name(db_logins.prefix, "ingest")
    url = service_db_url("ingest")
    good = db_logins.passwords[login]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url.replace(good, "not-" + good)).close()
    with psycopg.connect(PG_ADMIN_URL) as admin:
        (verifier,) = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,)
        ).fetchone() or (None,)
    assert str(verifier).startswith("SCRAM-SHA-256$")
    assert good not in str(verifier)

