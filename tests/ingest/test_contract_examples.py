"""Every example of docs/mqtt.md, published verbatim to the real broker and ingested for real."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.factories import make_station
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, running, wait_for

READY = "subscribed to"
DOC = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"
_EXAMPLE = re.compile(r"<!-- example: (?P<head>[^>]*?) -->\s*```(?:json|text)\n(?P<body>.*?)```", re.S)


@dataclass(frozen=True)
class Example:
    name: str
    topic: str
    body: str
    expect: dict[str, str]


def examples() -> list[Example]:
    found = []
    for m in _EXAMPLE.finditer(DOC.read_text()):
        name, *pairs = m["head"].split()
        kv = dict(p.split("=", 1) for p in pairs)
        topic = kv.pop("topic")
        found.append(Example(name, topic, m["body"].rstrip("\n"), kv))
    return found


def test_doc_has_examples() -> None:
    names = {e.name for e in examples()}
    assert {"single", "counter", "batch", "status", "chirpstack", "malformed", "nan"} <= names


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.name)
def test_documented_example(
    example: Example,
    db: psycopg.Connection[tuple[object, ...]],
    broker: Broker,
    make_ingest: Callable[..., Service],
) -> None:
    station = make_station(db, dev_eui="70b3d57ed0001234")
    topic = example.topic.format(station=station.id, dev_eui=station.dev_eui)
    body = example.body.replace("{dev_eui}", station.dev_eui or "")
    with (
        running(make_ingest(), ready=READY) as ingest,
        publisher(broker.url("vigie-simulator")) as pub,
    ):
        if topic.startswith("application/"):
            pub.close()
            with publisher(broker.url("chirpstack")) as cs:
                assert cs.publish(topic, body) == 0
        else:
            assert pub.publish(topic, body) == 0
        expect = example.expect

        def settled() -> bool:
            stored = db.execute("SELECT count(*) FROM rain_readings").fetchone()
            dead = db.execute("SELECT count(*) FROM dead_letters").fetchone()
            status = db.execute("SELECT online FROM device_status").fetchone()
            want_stored = int(expect.get("stored", 0))
            want_dead = 1 if "dead" in expect else 0
            want_status = "online" not in expect or (status is not None)
            return bool(stored and dead and stored[0] == want_stored and dead[0] == want_dead and want_status)

        wait_for(settled, timeout=15)
        assert ingest.proc is not None and ingest.proc.poll() is None, ingest.log()
    if "dead" in expect:
        assert db.execute("SELECT reason FROM dead_letters").fetchone() == (expect["dead"],)
    if "mm" in expect:
        total = db.execute("SELECT sum(mm) FROM rain_readings").fetchone()
        assert total is not None and total[0] == pytest.approx(float(expect["mm"]))
        rollup = db.execute("SELECT sum(mm) FROM rain_5min").fetchone()
        assert rollup is not None and rollup[0] == pytest.approx(float(expect["mm"]))
    if "online" in expect:
        assert db.execute("SELECT online FROM device_status").fetchone() == (expect["online"] == "true",)
