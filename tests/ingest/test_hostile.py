"""Hostile payloads from a gauge's own account, through the real Mosquitto into the real ingest.

Issue 13: one ~3 KB message of nested brackets killed paho's network thread, and a NUL in `fw`
made the writer retry its batch for ever. Every class below is sent between good readings over
MQTT 5 and 3.1.1; each bad one must become a dead letter with its reason, every good one must be
stored, and ingest must still be storing at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, running, wait_for
from vigie.broker import MAX_PACKET_BYTES

READY = "subscribed to"
PROTOCOLS = [pytest.param(mqtt.MQTTv5, id="mqtt5"), pytest.param(mqtt.MQTTv311, id="mqtt311")]


@pytest.fixture
def gauge(db: psycopg.Connection[tuple[object, ...]], broker: Broker) -> tuple[str, str]:
    """A registered station and its own broker account: (station id, its MQTT URL)."""
    st = make_station(db).id
    return st, broker.add_device(st)


def _ts(n: int) -> str:
    return minute(1000 + n).isoformat()


def _raw(n: int, rest: str) -> bytes:
    """A reading written by hand (what json.dumps cannot produce), ts first."""
    return ('{"ts": "' + _ts(n) + '", ' + rest).encode()


def hostile_cases(station: str) -> list[tuple[str, str, bytes]]:
    """(expected dead-letter reason, topic kind, payload) for every hostile class."""
    up, status = "up", "status"
    deep_list = b"[" * 1500 + b"]" * 1500  # the reported ~3 KB message
    deep_object = b'{"a":' * 600 + b"1" + b"}" * 600
    # Deep enough for json.loads, too deep for everything recursive that came after it.
    deep_field = _raw(1, '"tips": 1, "x": ') + b"[" * 900 + b"]" * 900 + b"}"
    return [
        # malformed JSON and invalid UTF-8
        ("malformed_json", up, b'{"ts": "2026-11-28T14:05:00Z", "tips": 3'),
        ("malformed_json", up, b"\xff\xfe\x00garbage"),
        ("malformed_json", up, _raw(2, '"tips": 1, "fw": "') + b'\xc3\x28"}'),
        # deep nesting: as the whole payload, inside a batch, inside an ignored field, as a status
        ("too_deep", up, deep_list),
        ("too_deep", up, deep_object),
        ("too_deep", up, b'{"readings": ' + b"[" * 2000 + b"]" * 2000 + b"}"),
        ("too_deep", up, deep_field),
        ("bad_status", status, b'{"state": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
        # huge numbers
        ("non_finite", up, _raw(3, '"tips": 1e400}')),
        ("non_finite", up, _raw(4, '"tips": 1, "battery_v": -1e400}')),
        ("invalid_reading", up, json.dumps({"ts": _ts(5), "tips": 2**80}).encode()),
        ("invalid_reading", up, json.dumps({"ts": _ts(6), "tips": 1, "seq": 2**64}).encode()),
        ("malformed_json", up, _raw(7, '"tips": ' + "9" * 5000 + "}")),
        # long strings
        ("invalid_reading", up, json.dumps({"ts": _ts(8), "tips": 1, "fw": "v" * 10_000}).encode()),
        ("invalid_reading", up, json.dumps({"ts": "2" * 60_000, "tips": 1}).encode()),
        # oversized: over the 64 KiB contract, under the broker's packet limit
        ("payload_too_large", up, json.dumps({"ts": _ts(9), "tips": 1, "pad": "x" * 65_536}).encode()),
        # wrong field types
        ("invalid_reading", up, json.dumps({"ts": _ts(10), "tips": "3"}).encode()),
        ("invalid_reading", up, json.dumps({"ts": _ts(11), "tips": True}).encode()),
        ("invalid_reading", up, json.dumps({"ts": [], "tips": 1}).encode()),
        ("invalid_reading", up, json.dumps({"ts": _ts(12), "tips": 1, "fw": 12}).encode()),
        ("invalid_reading", up, json.dumps({"readings": "all of them"}).encode()),
        ("invalid_reading", up, b"null"),
        ("invalid_reading", up, b'"a string"'),
        # NUL and other control characters, and a lone surrogate (not a character at all)
        ("control_character", up, json.dumps({"ts": _ts(13), "tips": 1, "fw": "1.4\u0000"}).encode()),
        ("control_character", up, json.dumps({"ts": _ts(14), "tips": 1, "fw": "\u0007\u001b[2J"}).encode()),
        ("control_character", up, json.dumps({"ts": _ts(15), "tips": 1, "fw": "1.\u009b4"}).encode()),
        ("control_character", up, _raw(16, '"tips": 1, "fw": "\\ud800"}')),
        ("control_character", up, _raw(17, f'"tips": 1, "station": "{station}\\u0000"}}')),
        ("malformed_json", up, _raw(18, '"tips": 1, "fw": "a') + b'\x00"}'),
        # topic/station mismatch
        ("topic_mismatch", up, json.dumps({"ts": _ts(19), "tips": 1, "station": "someone-else"}).encode()),
        # out-of-range values
        ("invalid_reading", up, json.dumps({"ts": _ts(20), "tips": 1, "rssi": 40}).encode()),
        ("invalid_reading", up, json.dumps({"ts": _ts(21), "tips": 1, "interval_s": 0}).encode()),
        ("invalid_reading", up, json.dumps({"ts": _ts(22), "tips": 1, "battery_v": 99}).encode()),
        ("negative_tips", up, json.dumps({"ts": _ts(23), "tips": -4}).encode()),
        (
            "ts_in_future",
            up,
            json.dumps({"ts": (datetime.now(UTC) + timedelta(hours=2)).isoformat(), "tips": 1}).encode(),
        ),
        ("bad_status", status, "online\u0000".encode()),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_hostile_class_is_dead_lettered_between_stored_readings(
    protocol: int,
    db: psycopg.Connection[tuple[object, ...]],
    gauge: tuple[str, str],
    make_ingest: Callable[..., Service],
) -> None:
    st, device_url = gauge
    cases = hostile_cases(st)
    with running(make_ingest(), ready=READY) as ingest, publisher(device_url, protocol) as device:
        for i, (_reason, kind, payload) in enumerate(cases):
            assert device.publish(topic(st), reading(i, minute(i))) == 0
            assert device.publish(topic(st, kind), payload) == 0
        # Another station's topic is refused by the broker itself (only MQTT 5 can say so).
        code = device.publish(topic("someone-else"), reading(999, minute(999)))
        assert code == (135 if protocol == mqtt.MQTTv5 else 0)
        wait_for(lambda: _count(db, "dead_letters") >= len(cases), timeout=30)
        # Still storing at the end.
        assert device.publish(topic(st), reading(len(cases), minute(len(cases)))) == 0
        wait_for(lambda: _count(db, "rain_readings") == len(cases) + 1, timeout=15)
        assert ingest.proc is not None and ingest.proc.poll() is None, "ingest must keep running"
    reasons = Counter(str(r[0]) for r in db.execute("SELECT reason FROM dead_letters").fetchall())
    assert reasons == Counter(c[0] for c in cases)
    assert _count(db, "rain_readings") == len(cases) + 1
    stations = {r[0] for r in db.execute("SELECT DISTINCT station_id FROM rain_readings").fetchall()}
    assert stations == {st}
    counted = db.execute("SELECT counters->'dead_letters' FROM ingest_metrics").fetchone()
    assert counted is not None and counted[0] == dict(Counter(c[0] for c in cases))


def _count(db: psycopg.Connection[tuple[object, ...]], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608  # test-only, fixed names
    return int(str(row[0])) if row else 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_row_the_database_refuses_inside_a_batch_through_the_broker(
    protocol: int,
    db: psycopg.Connection[tuple[object, ...]],
    gauge: tuple[str, str],
    make_ingest: Callable[..., Service],
) -> None:
    """The database refuses one reading of a store-and-forward batch (a CHECK constraint of this
    test's database, standing for any rule the edge does not know; see test_refusals.py). Its
    neighbours in the same message and the messages around it are stored; ingest goes on."""
    st, url = gauge
    db.execute("ALTER TABLE rain_readings ADD CONSTRAINT test_refused CHECK (battery_v <> 13.5)")
    batch = {
        "readings": [
            json.loads(reading(10, minute(10))),
            json.loads(reading(11, minute(11), battery_v=13.5)),
            json.loads(reading(12, minute(12))),
        ]
    }
    with running(make_ingest(), ready=READY) as ingest, publisher(url, protocol) as device:
        assert device.publish(topic(st), reading(1, minute(1))) == 0
        assert device.publish(topic(st), json.dumps(batch)) == 0
        assert device.publish(topic(st), reading(2, minute(2))) == 0
        wait_for(lambda: _count(db, "dead_letters") == 1 and _count(db, "rain_readings") == 4, timeout=15)
        assert device.publish(topic(st), reading(3, minute(3))) == 0
        wait_for(lambda: _count(db, "rain_readings") == 5, timeout=15)
        assert ingest.proc is not None and ingest.proc.poll() is None
        assert "splitting it to find the refused rows" in ingest.log()
    row = db.execute("SELECT reason, payload FROM dead_letters").fetchone()
    assert row is not None and row[0] == "rejected_by_database"
    assert isinstance(row[1], bytes)
    assert json.loads(row[1])["seq"] == 11  # the refused reading itself, recoverable
    stored = sorted(int(str(r[0])) for r in db.execute("SELECT seq FROM rain_readings").fetchall())
    assert stored == [1, 2, 3, 10, 12]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_packet_over_the_broker_limit_is_refused_and_ingest_goes_on(
    protocol: int,
    db: psycopg.Connection[tuple[object, ...]],
    broker: Broker,
    gauge: tuple[str, str],
    make_ingest: Callable[..., Service],
) -> None:
    st, url = gauge
    # Another gauge sends it: a second connection with this gauge's account would take over the
    # first one's client id (the devices listener binds client ids to accounts).
    other = make_station(db).id
    too_big = json.dumps({"ts": _ts(1), "tips": 1, "pad": "x" * (MAX_PACKET_BYTES + 1)})
    with running(make_ingest(), ready=READY) as ingest, publisher(url, protocol) as device:
        assert device.publish(topic(st), reading(1, minute(1))) == 0
        with publisher(broker.add_device(other), protocol) as sender:
            sender.client.publish(topic(other), too_big, qos=1)
            wait_for(lambda: sender.disconnects, timeout=10)  # the broker closed the connection
            dropped = [str(rc) for rc in sender.disconnects]
        if protocol == mqtt.MQTTv5:
            assert dropped[0] == "Packet too large"  # MQTT 5 says why (reason code 0x95)
        assert device.publish(topic(st), reading(2, minute(2))) == 0
        wait_for(lambda: _count(db, "rain_readings") == 2, timeout=15)
        assert ingest.proc is not None and ingest.proc.poll() is None
        assert "disconnected from the broker" not in ingest.log()  # ingest's own session held
    assert _count(db, "dead_letters") == 0  # it never reached ingest
    assert "max_packet_size 66560" in broker.directory.joinpath("mosquitto.conf").read_text()
