"""`vigie up` restarts a service whose work loop stalls, /healthz shows it, and every service's
connections carry their own application_name in pg_stat_activity.

How the stall is made: the test's own session takes `LOCK TABLE rain_readings IN ACCESS
EXCLUSIVE MODE`, as an administrator's forgotten transaction or a long migration would. Ingest's
writer then blocks inside the real database, in the middle of a real batch, and nothing in the
service knows it is a test. Neither the database nor the broker is replaced by anything: the lock
is an ordinary PostgreSQL lock, and the process is stopped, killed and restarted for real.
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, free_port, running, wait_for

Conn = psycopg.Connection[tuple[Any, ...]]


def _env(service_env: dict[str, str], broker: Broker, port: int, **extra: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        **service_env,
        # No user in the URL: each service takes its own account from the credentials file.
        "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "VIGIE_MQTT_CREDENTIALS_FILE": str(broker.directory / "credentials.env"),
        "VIGIE_API__PORT": str(port),
        "VIGIE_INGEST__CLIENT_ID": f"live-{tag}",
        "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
        **extra,
    }


def _health(port: int) -> tuple[int, dict[str, Any]] | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return r.status_code, r.json()


def _count(db: Conn, query: str) -> int:
    row = db.execute(query.encode()).fetchone()
    assert row is not None
    return int(row[0])


def _ingest_pids(db: Conn) -> set[int]:
    rows = db.execute("SELECT DISTINCT pid FROM service_heartbeats WHERE service = 'ingest'")
    return {int(r[0]) for r in rows}


def test_a_stalled_ingest_writer_is_restarted_and_ingest_resumes(
    db: Conn, service_env: dict[str, str], broker: Broker, tmp_path: Path
) -> None:
    st = make_station(db).id
    port = free_port()
    env = _env(
        service_env,
        broker,
        port,
        VIGIE_LIVENESS__REPORT_S="0.5",
        VIGIE_LIVENESS__STALL_S="4",
        VIGIE_LIVENESS__CHECK_S="0.5",
        VIGIE_LIVENESS__STOP_TIMEOUT_S="3",
        VIGIE_LIVENESS__BACKOFF_BASE_S="0.5",
    )
    up = Service(["up", "--only", "ingest", "--only", "api"], env, tmp_path / "up.log")

    def healthy_with_ingest() -> bool:
        got = _health(port)
        return got is not None and got[0] == 200 and {
            (loop["service"], loop["loop"]) for loop in got[1]["loops"]
        } >= {("ingest", "writer"), ("ingest", "mqtt")}

    with running(up), publisher(broker.url("vigie-simulator")) as pub:
        up.wait_log("subscribed to", timeout=30)
        wait_for(healthy_with_ingest, timeout=30, interval=0.2)
        (old_pid,) = _ingest_pids(db)
        assert pub.publish(topic(st), reading(0, minute(0))) == 0
        wait_for(lambda: _count(db, "SELECT count(*) FROM rain_readings") == 1, timeout=15)

        with psycopg.connect(service_env["VIGIE_DATABASE_URL"]) as locker:
            locker.execute("LOCK TABLE rain_readings IN ACCESS EXCLUSIVE MODE")
            assert pub.publish(topic(st), reading(1, minute(1))) == 0

            def stalled_writer() -> dict[str, Any] | None:
                got = _health(port)
                if got is None or got[0] != 503:
                    return None
                loops = [lp for lp in got[1]["loops"] if lp["stalled"]]
                names = [(lp["service"], lp["loop"]) for lp in loops]
                return got[1] if names == [("ingest", "writer")] else None

            body = wait_for(stalled_writer, timeout=20, interval=0.2)
            assert body is not None
            assert body["status"] == "degraded" and body["database"] and body["broker"]
            assert "host" not in body["loops"][0] and "pid" not in body["loops"][0]  # public page
            up.wait_log("stalled: no heartbeat from ingest/writer", timeout=20)
            # Its writer hangs in the database: SIGTERM cannot end it, so it is killed.
            up.wait_log("starting 'vigie ingest'", count=2, timeout=30)
            locker.rollback()

        assert pub.publish(topic(st), reading(2, minute(2))) == 0
        # The reading the stalled process never acknowledged comes back from the broker.
        wait_for(lambda: _count(db, "SELECT count(*) FROM rain_readings") == 3, timeout=30)
        wait_for(healthy_with_ingest, timeout=30, interval=0.2)
        assert _ingest_pids(db) - {old_pid}, "the new ingest process reports its own heartbeats"
        assert old_pid not in _ingest_pids(db)
        assert up.stop(signal.SIGTERM) == 0
    log = up.log()
    assert "did not stop in 3 s; killing it" in log
    assert log.count("starting 'vigie ingest'") == 2
    assert log.count("'vigie ingest' stalled") == 1  # judged once, then stopped and killed
    assert log.count("starting 'vigie api'") == 1  # only the stalled service was restarted


def test_each_service_is_named_in_pg_stat_activity_and_reports_its_loops(
    db: Conn, service_env: dict[str, str], broker: Broker, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(
        service_env,
        broker,
        port,
        VIGIE_LIVENESS__REPORT_S="0.5",
        VIGIE_CAMERA__MEDIA_DIR=str(tmp_path / "media"),
    )
    up = Service(
        ["up", "--only", "ingest", "--only", "api", "--only", "alerts", "--only", "camera"],
        env,
        tmp_path / "up.log",
    )
    expected = {
        "vigie-up",
        "vigie-ingest",
        "vigie-ingest-heartbeat",
        "vigie-api",
        "vigie-alerts-engine",
        "vigie-alerts-sweep",
        "vigie-cap",
        "vigie-notifier",
        "vigie-alerts-heartbeat",
        "vigie-camera",
    }

    def names() -> set[str]:
        rows = db.execute(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
        return {str(r[0]) for r in rows}

    def loops() -> set[tuple[str, str]]:
        return {(str(s), str(lp)) for s, lp in db.execute("SELECT service, loop FROM service_heartbeats")}

    with running(up):
        up.wait_log("subscribed to", timeout=60)
        # The ingest writer commits a batch before it holds a connection: make it write one.
        st = make_station(db).id
        with publisher(broker.url("vigie-simulator")) as pub:
            assert pub.publish(topic(st), reading(0, minute(0))) == 0
        wait_for(lambda: _health(port) is not None, timeout=30, interval=0.2)  # the API's pool
        wait_for(lambda: names() >= expected, timeout=30, interval=0.2)
        # Nobody connects anonymously: every session says which service it belongs to.
        assert all(n.startswith("vigie-") for n in names()), names()
        wait_for(
            lambda: loops()
            >= {("ingest", "writer"), ("ingest", "mqtt"), ("alerts", "engine"), ("alerts", "cap"),
                ("alerts", "notifier")},
            timeout=30,
        )
        got = _health(port)
        assert got is not None and got[0] == 200 and got[1]["stalled"] == 0
        assert up.stop(signal.SIGTERM) == 0
    # A clean stop removes every heartbeat: nothing is left looking stalled.
    assert loops() == set()
