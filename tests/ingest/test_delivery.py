"""Delivery guarantees on the real broker and database: exactly once, nothing lost across
restarts of ingest or of the database, load split over a shared subscription, ACL confinement."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, free_port, running, wait_for
from vigie import notify
from vigie.logins import ensure_logins
from vigie.migrate import migrate

READY = "subscribed to"
ROOT = Path(__file__).resolve().parents[2]


def _one(db: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = db.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


def test_duplicates_and_out_of_order_never_count_twice(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    st = make_station(db).id
    msgs = [reading(i, minute(i), tips=2) for i in range(10)]
    # Every reading twice, then the first five again in reverse order (late and duplicated).
    sequence = msgs + msgs + list(reversed(msgs[:5]))
    with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert set(pub.publish_many([(topic(st), m) for m in sequence])) == {0}
        # Every reading is either stored or counted as a duplicate (retained messages of other
        # tests, if any, are neither).
        wait_for(
            lambda: (
                _one(
                    db,
                    "SELECT coalesce(sum((counters->>'stored')::int + (counters->>'duplicates')::int), 0)"
                    " FROM ingest_metrics",
                )
                == len(sequence)
            ),
            timeout=15,
        )
    assert _one(db, "SELECT count(*) FROM rain_readings") == 10
    assert _one(db, "SELECT round(sum(mm)::numeric, 3) FROM rain_5min") == pytest.approx(10 * 2 * 0.2)
    assert _one(db, "SELECT round(sum(mm)::numeric, 3) FROM rain_1h") == pytest.approx(10 * 2 * 0.2)
    assert _one(db, "SELECT sum((counters->>'duplicates')::int) FROM ingest_metrics") == 15


def test_out_of_order_and_clock_skew_flags(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    from datetime import UTC, datetime, timedelta

    st = make_station(db).id
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=120)
    with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert pub.publish(topic(st), reading(2, minute(2))) == 0
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 1)
        assert pub.publish(topic(st), reading(1, minute(1))) == 0  # older than the stored one
        assert pub.publish(topic(st), reading(3, ahead, min_gap_ms=120)) == 0
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 3)
    flags = {int(str(q)): int(str(f)) for q, f in db.execute("SELECT seq, flags FROM rain_readings")}
    assert flags == {2: 0, 1: 8, 3: 4 | 1}  # out_of_order; clock_skew | double_tip


def test_counter_reset_and_late_counter(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    import json

    st = make_station(db).id

    def c(seq: int, n: int, value: int) -> str:
        return json.dumps({"seq": seq, "ts": minute(n).isoformat(), "counter": value, "interval_s": 60})

    with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        for payload in (c(1, 0, 100), c(2, 1, 103), c(4, 3, 2), c(5, 4, 7)):
            assert pub.publish(topic(st), payload) == 0
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 4)
        assert pub.publish(topic(st), c(3, 2, 105)) == 0  # late: between 103 and the reset
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 5)
    rows = {int(str(s)): (t, f) for s, t, f in db.execute("SELECT seq, tips, flags FROM rain_readings")}
    assert rows == {1: (None, 16), 2: (3, 0), 4: (2, 2), 5: (5, 0), 3: (None, 8)}
    assert _one(db, "SELECT round(sum(mm)::numeric, 2) FROM rain_5min") == pytest.approx((3 + 2 + 5) * 0.2)


def test_sigterm_flushes_and_exits_zero(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    st = make_station(db).id
    service = make_ingest(VIGIE_INGEST__FLUSH_INTERVAL_S="8", VIGIE_INGEST__BATCH_SIZE="100000",
                           VIGIE_INGEST__LINGER_S="8")
    with running(service, ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert set(pub.publish_many([(topic(st), reading(i, minute(i))) for i in range(50)])) == {0}
        time.sleep(1.5)  # delivered to ingest over loopback, but the 8 s batch window is still open
        assert _one(db, "SELECT count(*) FROM rain_readings") == 0
        # SIGTERM must commit the open batch rather than drop it.
        assert service.stop(signal.SIGTERM) == 0
    assert _one(db, "SELECT count(*) FROM rain_readings") == 50
    assert "ingest stopped" in service.log()


def test_published_while_ingest_is_down_all_arrive(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    st = make_station(db).id
    first = make_ingest()
    with running(first, ready=READY):
        pass  # creates the persistent session and its subscription
    assert first.proc is not None and first.proc.returncode == 0
    with publisher(broker.url("vigie-simulator")) as pub:
        codes = pub.publish_many([(topic(st), reading(i, minute(i))) for i in range(2000)])
    assert set(codes) == {0}  # the broker accepted them for the offline session
    with running(make_ingest(), ready=READY):
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 2000, timeout=30)
    assert _one(db, "SELECT sum(readings) FROM rain_5min") == 2000


def test_published_after_a_broker_restart_before_ingest_is_back_all_arrive(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    """Chaos run E (issue 14): Mosquitto restores a persistent session's plain subscriptions
    after its restart but not its shared ones, so a lone ingest subscribes plainly. With the
    shared subscription the broker answered these PUBACK 0x10 and dropped them."""
    st = make_station(db).id
    first = make_ingest()
    with running(first, ready=READY):
        pass  # creates the persistent session and its subscription
    broker.stop()
    broker.start()
    # A gauge back before ingest: only ingest's restored session is there to receive.
    with publisher(broker.url("vigie-simulator")) as pub:
        codes = pub.publish_many([(topic(st), reading(i, minute(i))) for i in range(50)])
    assert set(codes) == {0}  # not 0x10, "No matching subscribers"
    with running(make_ingest(), ready=READY):
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 50, timeout=30)
    assert _one(db, "SELECT sum(readings) FROM rain_5min") == 50


def test_a_session_scaled_back_in_does_not_get_every_reading_twice(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    """The same session (client id) subscribed shared, then plainly: ingest unsubscribes from
    the form it no longer uses, or the broker would deliver each reading once per form."""
    st = make_station(db).id
    with running(make_ingest(VIGIE_INGEST__SHARED_SUBSCRIPTION="true"), ready=READY):
        pass
    with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert set(pub.publish_many([(topic(st), reading(i, minute(i))) for i in range(200)])) == {0}
        wait_for(lambda: _one(db, "SELECT sum((counters->>'stored')::int) FROM ingest_metrics") == 200)
        time.sleep(1.0)  # a second copy of each, if any, would be counted by now
        assert _one(db, "SELECT sum((counters->>'duplicates')::int) FROM ingest_metrics") == 0
    assert _one(db, "SELECT count(*) FROM rain_readings") == 200


def test_two_ingest_processes_share_the_load_exactly_once(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    stations = [make_station(db).id for _ in range(5)]
    # Two hosts' ingest on one share group: each sets SHARED_SUBSCRIPTION (PROCESSES does it itself).
    shared = {"VIGIE_INGEST__SHARED_SUBSCRIPTION": "true"}
    a = make_ingest(VIGIE_INGEST__CLIENT_ID=f"ingest-a-{uuid.uuid4().hex[:6]}", **shared)
    b = make_ingest(VIGIE_INGEST__CLIENT_ID=f"ingest-b-{uuid.uuid4().hex[:6]}", **shared)
    msgs = [(topic(s), reading(i, minute(i))) for s in stations for i in range(1000)]
    with running(a, ready=READY), running(b, ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert set(pub.publish_many(msgs)) == {0}
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == len(msgs), timeout=60)
        wait_for(lambda: _one(db, "SELECT sum((counters->>'stored')::int) FROM ingest_metrics") == len(msgs))
    per_worker = {
        str(w): int(str(n))
        for w, n in db.execute("SELECT worker, (counters->>'stored')::int FROM ingest_metrics")
    }
    assert len(per_worker) == 2 and all(int(str(n)) > 0 for n in per_worker.values()), per_worker
    assert _one(db, "SELECT sum((counters->>'duplicates')::int) FROM ingest_metrics") == 0
    assert _one(db, "SELECT sum(readings) FROM rain_5min") == len(msgs)


def test_processes_setting_runs_that_many_workers_and_sigterm_stops_them_all(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    stations = [make_station(db).id for _ in range(5)]
    service = make_ingest(VIGIE_INGEST__PROCESSES="2")
    client_id = service.env["VIGIE_INGEST__CLIENT_ID"]
    msgs = [(topic(s), reading(i, minute(i))) for s in stations for i in range(1000)]
    with running(service, ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        wait_for(lambda: service.log().count(READY) == 2, timeout=30)
        assert set(pub.publish_many(msgs)) == {0}
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == len(msgs), timeout=60)
        wait_for(lambda: _one(db, "SELECT sum((counters->>'stored')::int) FROM ingest_metrics") == len(msgs))
        assert service.stop(signal.SIGTERM) == 0
    per_worker = {
        str(w): int(str(n))
        for w, n in db.execute("SELECT worker, (counters->>'stored')::int FROM ingest_metrics")
    }
    # Process 1 keeps the configured client id (and session); each worker took a share.
    assert set(per_worker) == {client_id, f"{client_id}-p2"}, per_worker
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert _one(db, "SELECT sum((counters->>'duplicates')::int) FROM ingest_metrics") == 0
    assert _one(db, "SELECT sum(readings) FROM rain_5min") == len(msgs)
    assert service.log().count("ingest stopped") == 2  # both workers flushed and exited


def test_device_cannot_publish_to_another_stations_topic(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    mine, other = make_station(db).id, make_station(db).id
    url = broker.add_device(mine)
    with running(make_ingest(), ready=READY), publisher(url) as device:
        assert device.publish(topic(mine), reading(1, minute(1))) == 0
        assert device.publish(topic(other), reading(2, minute(2))) == 135  # not authorized
        assert device.publish("vigie/v1/alerts/fake", "x") == 135
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 1)
    rows = db.execute("SELECT station_id FROM rain_readings").fetchall()
    assert rows == [(mine,)]
    # And no anonymous access at all.
    with pytest.raises(ConnectionRefusedError, match=r"(?i)not authori[sz]ed"):
        publisher(f"mqtt://127.0.0.1:{broker.port}").__enter__()
    with pytest.raises(ConnectionRefusedError, match=r"(?i)bad user name or password|not authori[sz]ed"):
        publisher(f"mqtt://{mine}:wrong@127.0.0.1:{broker.port}").__enter__()


@pytest.fixture
def private_pg(
    template_db: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], Callable[[], None], Callable[[], None]]]:
    """A TimescaleDB server of this test's own, so it can be stopped and started under load;
    with its own service logins (the env that points ingest at them), checked by SCRAM."""
    port = free_port()
    data = f"/var/lib/vigie-pg/test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "VIGIE_PG_PORT": str(port), "VIGIE_PG_DATA": data}

    def start() -> None:
        subprocess.run(
            ["bash", str(ROOT / "scripts/timescaledb.sh"), "start"], env=env, check=True, capture_output=True
        )

    def stop() -> None:
        subprocess.run(
            ["bash", str(ROOT / "scripts/timescaledb.sh"), "stop"], env=env, check=True, capture_output=True
        )

    start()
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE vigie")
    url = f"postgresql://postgres@127.0.0.1:{port}/vigie"
    migrate(url)
    credentials = tmp_path / "private-db-credentials.env"
    ensure_logins(url, credentials, "vigie_login_")
    env_for_ingest = {
        "VIGIE_DATABASE_URL": url,
        "VIGIE_DATABASE_CREDENTIALS_FILE": str(credentials),
        "VIGIE_DATABASE_LOGIN_PREFIX": "vigie_login_",
    }
    try:
        yield url, env_for_ingest, stop, start
    finally:
        stop()
        root = os.environ.get("VIGIE_PG_ROOT", "/var/lib/vigie/trixie")
        codename = Path("/etc/os-release").read_text()
        prefix = "" if "trixie" in codename else root
        subprocess.run(["rm", "-rf", f"{prefix}{data}", f"{prefix}{data}.log"], check=False)


def test_database_restart_under_load_loses_and_doubles_nothing(
    private_pg: tuple[str, dict[str, str], Callable[[], None], Callable[[], None]],
    broker: Broker,
    make_ingest: Callable[..., Service],
) -> None:
    url, env_for_ingest, stop_db, start_db = private_pg
    with psycopg.connect(url, autocommit=True) as conn:
        st = make_station(conn).id
    msgs = [(topic(st), reading(i, minute(i))) for i in range(3000)]
    service = make_ingest(**env_for_ingest)
    with running(service, ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert set(pub.publish_many(msgs[:1000])) == {0}
        stop_db()
        assert set(pub.publish_many(msgs[1000:2000])) == {0}
        service.wait_log("database write failed")
        time.sleep(2)  # an outage of a few seconds, with readings waiting unacknowledged
        start_db()
        assert set(pub.publish_many(msgs[2000:])) == {0}
        with psycopg.connect(url, autocommit=True) as conn:
            wait_for(lambda: _one(conn, "SELECT count(*) FROM rain_readings") == 3000, timeout=60)
            assert _one(conn, "SELECT sum(readings) FROM rain_5min") == 3000
        service.wait_log("database writes recovered")


def test_retained_status_of_unknown_station_is_counted_not_dead_lettered(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    with publisher(broker.url("vigie-simulator")) as pub:
        # 16 = "no matching subscribers": the broker still keeps the retained message.
        assert pub.publish(topic(ghost, "status"), "offline", retain=True) in (0, 16)
    try:
        with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
            wait_for(
                lambda: (
                    _one(
                        db,
                        "SELECT coalesce(sum((counters->>'ignored_retained')::int), 0) FROM ingest_metrics",
                    )
                    == 1
                )
            )
            assert pub.publish(topic(ghost, "status"), "online") == 0  # live, not retained
            wait_for(lambda: _one(db, "SELECT count(*) FROM dead_letters") == 1)
        assert db.execute("SELECT reason FROM dead_letters").fetchall() == [("unknown_station",)]
    finally:
        with publisher(broker.url("vigie-simulator")) as pub:
            pub.publish(topic(ghost, "status"), b"", retain=True)  # clear it for later tests


def test_a_status_alone_notifies_the_live_stream_and_an_unknown_one_does_not(
    db: psycopg.Connection[tuple[object, ...]],
    database_url: str,
    broker: Broker,
    make_ingest: Callable[..., Service],
) -> None:
    st = make_station(db).id
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {notify.STATION_STATUS}")
        with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
            assert pub.publish(topic(ghost, "status"), "offline") == 0
            wait_for(lambda: _one(db, "SELECT count(*) FROM dead_letters") == 1)
            assert list(listener.notifies(timeout=1.0)) == []  # nothing of ours changed
            assert pub.publish(topic(st, "status"), "offline") == 0  # a Last Will, no reading
            got = list(listener.notifies(timeout=10.0, stop_after=1))
        assert [n.channel for n in got] == [notify.STATION_STATUS]
        assert db.execute("SELECT online FROM device_status WHERE station_id = %s", (st,)).fetchone() == (
            False,
        )
