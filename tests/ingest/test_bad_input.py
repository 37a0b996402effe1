"""Every bad-input class gets a dead-letter row with its reason; good readings around it are kept
and the service keeps running."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, running, wait_for

READY = "subscribed to"


def test_each_bad_input_class_is_dead_lettered_and_neighbours_kept(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    st = make_station(db).id
    now = datetime.now(UTC)
    good = [reading(i, minute(i)) for i in range(6)]
    # Over a lowered MAX_BATCH_READINGS: 10,001 readings no longer fit in the broker's 65 KiB
    # packet limit, and the check is the same. Still over 4 KiB, for the bounded-copy check.
    too_many = json.dumps({"readings": [json.loads(reading(i, minute(100 + i))) for i in range(101)]})
    cases: list[tuple[str, str, str | bytes]] = [
        ("malformed_json", topic(st), b"\xff\xfe not utf-8"),
        ("malformed_json", topic(st), "{not json"),
        ("invalid_reading", topic(st), json.dumps({"seq": 1, "tips": 1})),  # missing ts
        ("invalid_reading", topic(st), json.dumps({"ts": minute(1).isoformat(), "tips": "3"})),
        ("invalid_reading", topic(st), "[1, 2, 3]"),
        ("invalid_reading", topic(st), json.dumps({"ts": minute(1).isoformat()})),  # no tips/counter
        ("non_finite", topic(st), f'{{"ts": "{minute(2).isoformat()}", "tips": 1, "battery_v": Infinity}}'),
        ("negative_tips", topic(st), json.dumps({"ts": minute(3).isoformat(), "counter": -1})),
        ("rate_too_high", topic(st), reading(9, minute(4), tips=1000, interval_s=60)),
        ("ts_in_future", topic(st), reading(10, now + timedelta(minutes=10))),
        ("ts_too_old", topic(st), reading(11, now - timedelta(days=4000))),
        ("unknown_station", topic("nobody-here"), reading(12, minute(5))),
        (
            "topic_mismatch",
            topic(st),
            json.dumps({"station": "other-one", "ts": minute(6).isoformat(), "tips": 1}),
        ),
        ("bad_status", topic(st, "status"), "maybe"),
        ("unknown_station", topic("nobody-here", "status"), "online"),
        ("invalid_reading", topic(st), json.dumps({"ts": "2026-11-28T10:00:00", "tips": 1})),  # naive ts
        ("invalid_reading", topic(st), json.dumps({"ts": minute(7).isoformat(), "tips": 1, "rssi": 40})),
        ("invalid_reading", topic(st), json.dumps({"ts": "'; DROP TABLE rain_readings; --", "tips": 1})),
    ]
    with running(make_ingest(VIGIE_INGEST__MAX_BATCH_READINGS="100"), ready=READY) as ingest:
        with publisher(broker.url("vigie-simulator")) as pub:
            # Interleave: a good reading before every bad one.
            for i, (_reason, t, payload) in enumerate(cases):
                assert pub.publish(topic(st), good[i % len(good)]) == 0
                assert pub.publish(t, payload) == 0
            # batch_too_large: a payload under the size limit but over the (lowered) reading limit.
            assert pub.publish(topic(st), too_many) == 0
            wait_for(lambda: _count(db, "dead_letters") >= len(cases) + 1, timeout=20)
        assert ingest.proc is not None and ingest.proc.poll() is None, "ingest must keep running"
    rows = db.execute("SELECT reason FROM dead_letters").fetchall()
    reasons = sorted(str(r[0]) for r in rows)
    # payload_too_large is checked against the default 64 KiB limit in the next test.
    assert reasons == sorted(["batch_too_large", *(c[0] for c in cases)])
    assert _count(db, "rain_readings") == len(good)
    size = db.execute("SELECT max(payload_size), max(octet_length(payload)) FROM dead_letters").fetchone()
    assert size is not None and int(str(size[0])) > 4096 and int(str(size[1])) <= 4096  # bounded copy


def test_oversized_payload_with_default_limit(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    st = make_station(db).id
    with running(make_ingest(), ready=READY), publisher(broker.url("vigie-simulator")) as pub:
        assert pub.publish(topic(st), json.dumps({"pad": "x" * (64 * 1024 + 1)})) == 0
        assert pub.publish(topic(st), reading(1, minute(1))) == 0
        wait_for(lambda: _count(db, "dead_letters") == 1 and _count(db, "rain_readings") == 1, timeout=15)
    assert db.execute("SELECT reason, payload_size FROM dead_letters").fetchone() == (
        "payload_too_large",
        len(json.dumps({"pad": "x" * (64 * 1024 + 1)})),
    )


def _count(db: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608  # test-only, fixed names
    return int(str(row[0])) if row else 0
