"""The live SSE stream on two real uvicorn instances, the real database, the real broker and the
real ingest: a gauge's MQTT reading reaches a client, a client resumes on the OTHER instance with
Last-Event-ID and gets exactly what it missed, and an incident change arrives."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN
from tests.api.live_server import serving
from tests.api.test_incidents import make_incident
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, running, wait_for
from vigie import notify, provisioning
from vigie.settings import Settings
from vigie.stations import StationIn

Db = psycopg.Connection[tuple[object, ...]]


@dataclass
class Event:
    id: str | None
    kind: str
    data: dict[str, Any]


@pytest.fixture
def two_apis(api_settings: Settings) -> Iterator[tuple[str, str]]:
    """Two API processes' worth of app (each its own pool and LISTEN connection) on one database."""
    with serving(api_settings) as a, serving(api_settings) as b:
        yield a, b


class Stream:
    """An SSE client reading events as they come, with a deadline."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines

    def next(self, kinds: tuple[str, ...] = ("reading", "status", "incident")) -> Event:
        """The next event of one of `kinds` (others and comments are skipped)."""
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if fields.get("event") in kinds:
                    return Event(fields.get("id"), fields["event"], json.loads(fields["data"]))
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        raise AssertionError("stream ended")


@contextmanager
def sse(base: str, params: dict[str, str] | None = None, last_id: str | None = None) -> Iterator[Stream]:
    headers = {**ADMIN, **({"Last-Event-ID": last_id} if last_id else {})}
    with httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(30, read=25)) as http:
        with http.stream("GET", "/api/v1/live", params=params) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            assert next(lines) == "retry: 3000"  # the stream's cursor is fixed from here on
            yield Stream(lines)


@pytest.fixture
def gauge(db: Db, broker: Broker, service_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A provisioned gauge (its own MQTT account) and a running ingest: (station, device URL)."""
    sid = f"st-{uuid.uuid4().hex[:8]}"
    creds = provisioning.provision_station(
        db,
        StationIn(id=sid, name="Mairie", commune_insee="60636", lat=49.47, lon=2.88, tip_mm=0.2),
        broker.directory,
    )
    tag = uuid.uuid4().hex[:8]
    ingest = Service(
        ["ingest"],
        {**service_env, "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}", "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}"},
        tmp_path / "ingest.log",
    )
    with running(ingest, ready="subscribed to"):
        yield sid, f"mqtt://{sid}:{creds.password}@127.0.0.1:{broker.devices_port}"


def _stored(db: Db, station: str) -> int:
    row = db.execute("SELECT count(*) FROM rain_readings WHERE station_id = %s", (station,)).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_gauge_reading_over_mqtt_reaches_the_stream(
    two_apis: tuple[str, str], gauge: tuple[str, str]
) -> None:
    station, device_url = gauge
    with sse(two_apis[0], {"station": station}) as stream, publisher(device_url) as device:
        assert device.publish(topic(station), reading(1, minute(1), tips=3)) == 0
        event = stream.next(("reading",))
    assert event.data["station_id"] == station
    assert event.data["tips"] == 3 and event.data["mm"] == pytest.approx(0.6)
    assert event.id is not None


def test_resume_on_another_instance_gets_exactly_what_was_missed(
    two_apis: tuple[str, str], gauge: tuple[str, str], db: Db
) -> None:
    station, device_url = gauge
    first, second = two_apis
    with publisher(device_url) as device:
        with sse(first, {"station": station}) as stream:
            assert device.publish(topic(station), reading(1, minute(1))) == 0
            got = stream.next(("reading",))
        assert got.data["ts"].startswith(minute(1).isoformat()[:16])
        # Disconnected: these two are stored while nobody listens.
        assert device.publish(topic(station), reading(2, minute(2))) == 0
        assert device.publish(topic(station), reading(3, minute(3))) == 0
        wait_for(lambda: _stored(db, station) == 3)
        with sse(second, {"station": station}, last_id=got.id) as stream:
            missed = [stream.next(("reading",)), stream.next(("reading",))]
            assert device.publish(topic(station), reading(4, minute(4))) == 0
            after = stream.next(("reading",))
    seqs = [e.data["ts"][:16] for e in [*missed, after]]
    assert seqs == [minute(n).isoformat()[:16] for n in (2, 3, 4)]  # no duplicate of 1, none lost


def test_an_incident_change_arrives(two_apis: tuple[str, str], db: Db) -> None:
    with sse(two_apis[1]) as stream:
        incident = make_incident(db)
        db.execute("SELECT pg_notify(%s, %s)", (notify.INCIDENT_CHANGE, "1"))
        event = stream.next(("incident",))
    assert event.data["incident_id"] == incident
    assert event.data["kind"] == "opened" and event.data["level"] == "orange"


def test_live_refuses_bad_input(client: TestClient) -> None:
    assert client.get("/api/v1/live").status_code == 401
    assert client.get("/api/v1/live", params={"station": "nope"}, headers=ADMIN).status_code == 404
    for bad in ("st\x00a", "", "x" * 64, "Majuscules"):
        r = client.get("/api/v1/live", params={"station": bad}, headers=ADMIN)
        assert r.status_code == 422, (bad, r.text)
    for bad in ("x", "1.a.b.3.4", "1.a.2.3.4.5", "-1.s.2.3.4", "1.s.2.3", "9" * 300):
        r = client.get("/api/v1/live", headers={**ADMIN, "Last-Event-ID": bad})
        assert r.status_code == 422, bad
        assert isinstance(r.json()["detail"], str)
