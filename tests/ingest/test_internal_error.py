"""Any exception while handling one message dead-letters it (`internal_error`, with the
exception's class); paho's thread and the writer go on, and /metrics counts it.

No known input makes the parser raise any more (that is the point of the rest of issue 13), so
the fault is injected: the real IngestService runs in this process, on the real broker and
database, with parse_message wrapped to raise on one marked payload, as a future bug would.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import ingest.service
from api.app import create_app
from ingest.parse import Parsed, parse_message
from ingest.service import IngestService
from tests.factories import make_station, make_user
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, wait_for
from vigie.mqtt import parse_mqtt_url
from vigie.settings import IngestSettings, Settings

METRICS_TOKEN = "vigie_test-metrics-token-0123456789"

MARK = b"raise-here"


def _buggy_parse(topic_: str, payload: bytes, *args: Any, **kwargs: Any) -> Parsed:
    if MARK in payload:
        raise KeyError("a bug met this input")
    return parse_message(topic_, payload, *args, **kwargs)


@pytest.fixture
def service(
    database_url: str, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[IngestService, Settings]]:
    monkeypatch.setattr(ingest.service, "parse_message", _buggy_parse)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=SecretStr(database_url),
        mqtt_url=SecretStr(broker.url("vigie-api")),
        ingest=IngestSettings(client_id=f"ingest-{tag}", share_group=f"g-{tag}", raw_retention_days=3650),
    )
    # /metrics wants an API token of a technician or an admin, as Prometheus would hold.
    with psycopg.connect(database_url, autocommit=True) as conn:
        make_user(conn, "prometheus", ["technician"], token=METRICS_TOKEN)
    svc = IngestService(settings, parse_mqtt_url(broker.url("vigie-ingest")), database_url)
    thread = threading.Thread(target=svc.run, name="ingest-under-test")
    thread.start()
    try:
        assert svc.connected.wait(10), "ingest did not connect"
        yield svc, settings
    finally:
        svc.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_exception_in_handling_is_an_internal_error_dead_letter_and_a_metric(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, service: tuple[IngestService, Settings]
) -> None:
    svc, settings = service
    st = make_station(db).id
    with publisher(broker.add_device(st)) as device:
        assert device.publish(topic(st), reading(1, minute(1))) == 0
        assert device.publish(topic(st), b'{"ts": 1, "tips": 1, "note": "' + MARK + b'"}') == 0
        assert device.publish(topic(st), reading(2, minute(2))) == 0
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 2, timeout=15)
        wait_for(lambda: _one(db, "SELECT count(*) FROM dead_letters") == 1, timeout=15)
        # paho's thread is alive: more messages are still handled after the exception.
        assert device.publish(topic(st), reading(3, minute(3))) == 0
        wait_for(lambda: _one(db, "SELECT count(*) FROM rain_readings") == 3, timeout=15)
    assert svc.client._thread is not None and svc.client._thread.is_alive()  # paho's network thread
    row = db.execute("SELECT reason, detail, payload FROM dead_letters").fetchone()
    assert row is not None
    assert row[0] == "internal_error"
    assert str(row[1]).startswith("KeyError: ")
    assert isinstance(row[2], bytes) and MARK in row[2]  # the message is kept
    with TestClient(create_app(settings)) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert 'vigie_ingest_internal_errors_total{exception="KeyError"} 1.0' in text
    assert 'vigie_ingest_dead_letters_total{reason="internal_error"} 1.0' in text


def _one(db: psycopg.Connection[tuple[object, ...]], query: str) -> int:
    row = db.execute(query).fetchone()
    return int(str(row[0])) if row else 0
