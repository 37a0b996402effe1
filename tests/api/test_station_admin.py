"""Stations created, changed, retired and given new passwords through the API, on the real
database, the real Mosquitto and the real ingest: the password the API returns connects, a
device is held to its own topic, rotation and retirement reach the running broker, and the
password appears in no log nor audit line."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import ADMIN, LOOPBACK, bearer, role_token
from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.shared.test_provisioning import _count, _device_url, _refused
from tests.support import Broker, Service, running, wait_for
from vigie.broker_accounts import read_accounts
from vigie.settings import BrokerSettings, Settings

TECH = bearer(role_token("technician"))
READY = "subscribed to"


def _body(station: str, **extra: object) -> dict[str, object]:
    return {"id": station, "name": "Mairie", "commune_insee": "60636", "lat": 49.47, "lon": 2.88, **extra}


@pytest.fixture
def admin_client(api_settings: Settings, broker: Broker) -> Iterator[TestClient]:
    """The API with the test broker's directory configured (device accounts can be managed)."""
    settings = api_settings.model_copy(update={"broker": BrokerSettings(directory=broker.directory)})
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        yield c


def test_provision_rotate_retire_through_the_api(
    admin_client: TestClient,
    db: psycopg.Connection[tuple[object, ...]],
    broker: Broker,
    service_env: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    station = f"st-{uuid.uuid4().hex[:8]}"
    other = make_station(db).id
    tag = uuid.uuid4().hex[:8]
    ingest = Service(
        ["ingest"],
        {**service_env, "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}", "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}"},
        tmp_path / "ingest.log",
    )
    created = admin_client.post("/api/v1/stations", headers=TECH, json=_body(station))
    assert created.status_code == 201, created.text
    first = created.json()["password"]
    assert created.json()["username"] == station and len(first) >= 16
    assert station in read_accounts(broker.files.passwd)
    # The station is readable by the staff as before.
    assert admin_client.get(f"/api/v1/stations/{station}", headers=ADMIN).json()["name"] == "Mairie"

    with running(ingest, ready=READY):
        with publisher(_device_url(broker, station, first)) as device:
            assert device.publish(topic(station), reading(1, minute(1))) == 0
            # Another station's topic is refused (PUBACK 135: not authorised).
            assert device.publish(topic(other), reading(1, minute(1))) == 135
        wait_for(lambda: _count(db, station) == 1)
        assert _count(db, other) == 0

        rotated = admin_client.post(f"/api/v1/stations/{station}/credentials/rotate", headers=TECH)
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()["password"]
        assert second != first
        wait_for(lambda: _refused(_device_url(broker, station, first)), timeout=5)
        with publisher(_device_url(broker, station, second)) as device:
            assert device.publish(topic(station), reading(2, minute(2))) == 0
        wait_for(lambda: _count(db, station) == 2)

        assert admin_client.delete(f"/api/v1/stations/{station}", headers=TECH).status_code == 204
        wait_for(lambda: _refused(_device_url(broker, station, second)), timeout=5)
        log_text = ingest.log()
    assert station not in read_accounts(broker.files.passwd)
    status = admin_client.get(f"/api/v1/stations/{station}", headers=ADMIN).json()
    assert status["active"] is False
    assert _count(db, station) == 2  # retired, readings kept
    # A retired station has no account to rotate.
    again = admin_client.post(f"/api/v1/stations/{station}/credentials/rotate", headers=TECH)
    assert again.status_code == 422 and "retirée" in again.json()["detail"]

    # Audited, without the password; and the password is in no log.
    audit = db.execute(
        "SELECT action, target, detail::text FROM audit_log WHERE target LIKE %s ORDER BY id",
        (f"%{station}%",),
    ).fetchall()
    assert [a[0] for a in audit] == ["station.provisioned", "station.credentials.rotated", "deleted"]
    for secret in (first, second):
        assert all(secret not in str(a) for a in audit)
        assert secret not in caplog.text
        assert secret not in log_text
        for path in broker.directory.iterdir():
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path


def test_update_changes_the_description_only(
    admin_client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    r = admin_client.patch(
        f"/api/v1/stations/{st}", headers=TECH, json={"expected_interval_s": 600, "name": "Neuf"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["expected_interval_s"], r.json()["name"]) == (600, "Neuf")
    assert admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, json={"id": "x"}).status_code == 422
    assert admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, json={"name": None}).status_code == 422
    assert (
        admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, json={"name": "a\u0000"}).status_code
        == 422
    )
    unknown = admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, json={"commune_insee": "60999"})
    assert unknown.status_code == 422 and "commune" in unknown.json()["detail"]
    make_station(db, dev_eui="00112233aabbccdd")
    taken = admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, json={"dev_eui": "00112233aabbccdd"})
    assert taken.status_code == 409
    assert (
        admin_client.patch("/api/v1/stations/nope-nope", headers=TECH, json={"name": "x"}).status_code == 404
    )


def test_duplicate_and_reserved_ids_are_refused(
    admin_client: TestClient, db: psycopg.Connection[tuple[object, ...]], broker: Broker
) -> None:
    st = make_station(db).id
    dup = admin_client.post("/api/v1/stations", headers=TECH, json=_body(st))
    assert dup.status_code == 409 and "existe déjà" in dup.json()["detail"]
    accounts = read_accounts(broker.files.passwd)
    for name in ("chirpstack", "vigie-ingest", "vigie-nothing"):
        r = admin_client.post("/api/v1/stations", headers=TECH, json=_body(name))
        assert r.status_code == 422, r.text
    # The services' accounts share the password file: none was given a gauge's password.
    assert read_accounts(broker.files.passwd) == accounts
    assert "vigie-nothing" not in accounts


@pytest.mark.parametrize(
    "change",
    [
        {"lat": 91},
        {"lat": -90.5},
        {"lon": 180.01},
        {"lat": "NaN"},
        {"lon": "Infinity"},
        {"id": "../../etc/passwd"},
        {"id": "a" * 200},
        {"id": "St-Upper"},
        {"id": "x/#"},
        {"id": "x'; DROP TABLE stations; --"},
        {"name": "x" * 201},
        {"name": ""},
        {"name": "Mairie\u0000"},
        {"name": "Mai\nrie"},
        {"commune_insee": "75056"},
        {"expected_interval_s": 0},
        {"tip_mm": -1},
        {"dev_eui": "zz"},
        {"unexpected": 1},
    ],
)
def test_bad_station_bodies_are_refused_in_french(
    admin_client: TestClient, broker: Broker, change: dict[str, object]
) -> None:
    body = {**_body(f"st-{uuid.uuid4().hex[:8]}"), **change}
    r = admin_client.post("/api/v1/stations", headers=TECH, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("station refusée") or "requête refusée" in r.json()["detail"]
    assert str(body["id"]) not in read_accounts(broker.files.passwd)


def test_malformed_oversized_and_hostile_requests(
    admin_client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    assert (
        admin_client.post(
            "/api/v1/stations", headers={**TECH, "Content-Type": "application/json"}, content=b"{not json"
        ).status_code
        == 422
    )
    assert admin_client.post("/api/v1/stations", headers=TECH, json=[1, 2]).status_code == 422
    big = admin_client.post("/api/v1/stations", headers=TECH, json={**_body("st-big"), "name": "x" * 200_000})
    assert big.status_code == 413
    assert admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, json={"lat": 123}).status_code == 422
    assert admin_client.patch(f"/api/v1/stations/{st}", headers=TECH, content=b"\xff\xfe").status_code == 422
    long_id = "a" * 65
    for method, path in (
        ("DELETE", f"/api/v1/stations/{long_id}"),
        ("POST", f"/api/v1/stations/{long_id}/credentials/rotate"),
        ("GET", f"/api/v1/stations/{long_id}/health"),
        ("PATCH", f"/api/v1/stations/{long_id}"),
    ):
        r = admin_client.request(method, path, headers=TECH, json={"name": "x"})
        assert r.status_code == 422, (method, r.text)
    for hostile in ("nope-nope", "%27%20OR%201=1", "..%2F..%2Fetc", "vigie-ingest"):
        for method, path in (
            ("DELETE", f"/api/v1/stations/{hostile}"),
            ("POST", f"/api/v1/stations/{hostile}/credentials/rotate"),
            ("GET", f"/api/v1/stations/{hostile}/health"),
        ):
            r = admin_client.request(method, path, headers=TECH)
            assert r.status_code == 404, (method, path, r.text)
            assert "inconnue" in r.json()["detail"] or "ressource" in r.json()["detail"]


def test_without_a_broker_directory_the_answer_is_a_french_503(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    r = client.post("/api/v1/stations", headers=TECH, json=_body(f"st-{uuid.uuid4().hex[:8]}"))
    assert r.status_code == 503 and "VIGIE_BROKER__DIRECTORY" in r.json()["detail"]
    assert client.post(f"/api/v1/stations/{st}/credentials/rotate", headers=TECH).status_code == 503
    assert client.delete(f"/api/v1/stations/{st}", headers=TECH).status_code == 503
    # Nothing was created nor retired.
    assert db.execute("SELECT active FROM stations WHERE id = %s", (st,)).fetchone() == (True,)


def test_viewer_reads_but_cannot_write(
    admin_client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    viewer = bearer(role_token("viewer"))
    assert admin_client.get(f"/api/v1/stations/{st}/health", headers=viewer).status_code == 200
    assert admin_client.delete(f"/api/v1/stations/{st}", headers=viewer).status_code == 403
    assert admin_client.post("/api/v1/stations", headers=viewer, json=_body("st-viewer")).status_code == 403
    assert admin_client.get("/api/v1/maintenance", headers=viewer).status_code == 403
