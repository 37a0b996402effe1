"""`vigie up` runs the services as processes; the API answers on its port and ingest subscribes.
Each child holds its own credentials only."""

from __future__ import annotations

import signal

import httpx
import psutil
import psycopg

from tests.support import Broker, DbLogins, Service, free_port, running, wait_for
from vigie.broker import read_credentials
from vigie.db import APP_SUPERVISOR
from vigie.grants import login_name


def _children_env(up: Service) -> dict[str, dict[str, str]]:
    """service name -> environment of the `vigie <service>` child of `vigie up`."""
    assert up.proc is not None
    found = {}
    for child in psutil.Process(up.proc.pid).children():
        args = child.cmdline()
        if "vigie.cli" in args:
            found[args[args.index("vigie.cli") + 1]] = child.environ()
    return found


def test_up_runs_ingest_and_api_and_stops_cleanly(
    service_env: dict[str, str], db_logins: DbLogins, db: psycopg.Connection[tuple[object, ...]],
    broker: Broker, tmp_path: object
) -> None:
    from pathlib import Path

    port = free_port()
    env = {
        **service_env,
        # No user in the URL: each service takes its own account from the credentials file.
        "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "VIGIE_MQTT_CREDENTIALS_FILE": str(broker.directory / "credentials.env"),
        "VIGIE_API__PORT": str(port),
        "VIGIE_INGEST__CLIENT_ID": f"up-{port}",
        "VIGIE_SIGNUP__INBOUND_TOKEN": "up-inbound-key-0123456789",
    }
    up = Service(["up", "--only", "ingest", "--only", "api"], env, Path(str(tmp_path)) / "up.log")
    with running(up):
        up.wait_log("subscribed to")

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=30)
        children = _children_env(up)
        assert set(children) == {"ingest", "api"}
        passwords = {**db_logins.passwords, **read_credentials(broker.directory / "credentials.env")}
        for service, env in children.items():
            assert "VIGIE_DATABASE_CREDENTIALS_FILE" not in env
            assert "VIGIE_MQTT_CREDENTIALS_FILE" not in env
            login = login_name(db_logins.prefix, service)
            assert env["VIGIE_DATABASE_URL"].startswith(f"postgresql://{login}:")
            own = {db_logins.passwords[login]}
            if service == "ingest":
                own.add(passwords["vigie-ingest"])
            held = {p for p in passwords.values() if any(p in v for v in env.values())}
            assert held == own, service
            assert ("VIGIE_SIGNUP__INBOUND_TOKEN" in env) == (service == "api")
        logins = db.execute(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            # The supervisor reads the heartbeats as the migration login, now and then: that one
            # is meant to be the admin's (a full run once caught it mid-read).
            " AND application_name <> %s",
            (APP_SUPERVISOR,),
        ).fetchall()
        # The API keeps a pool open; ingest connects when it has readings to write.
        names = {str(r[0]) for r in logins}
        assert login_name(db_logins.prefix, "api") in names
        assert names <= {login_name(db_logins.prefix, s) for s in ("ingest", "api")}
        assert up.stop(signal.SIGTERM) == 0
    assert "connected to the broker as vigie-ingest" in up.log()
