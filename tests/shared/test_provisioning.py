"""Device provisioning through `vigie stations add/rotate-password/retire`, on the real broker and
the real ingest: the printed password works, rotation and retirement reach the running broker
by SIGHUP, accounts survive `vigie broker init`, and service names cannot be taken."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import Publisher, publisher
from tests.support import Broker, Service, running, wait_for
from vigie import provisioning, stations
from vigie.broker import init_broker
from vigie.broker_accounts import read_accounts
from vigie.cli import app
from vigie.errors import ValidationFailed
from vigie.settings import Settings

READY = "subscribed to"
PLACE = ("--name", "Mairie", "--commune", "60636", "--lat", "49.47", "--lon", "2.88")


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, broker: Broker) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    monkeypatch.setenv("VIGIE_BROKER__DIRECTORY", str(broker.directory))


def _vigie(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _password(output: str) -> str:
    match = re.search(r"^MQTT password: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def _device_url(broker: Broker, station: str, password: str) -> str:
    return f"mqtt://{station}:{password}@127.0.0.1:{broker.devices_port}"


def _refused(url: str) -> bool:
    try:
        Publisher(url).close()
    except ConnectionRefusedError:
        return True
    return False


def _count(db: psycopg.Connection[tuple[object, ...]], station: str) -> int:
    row = db.execute("SELECT count(*) FROM rain_readings WHERE station_id = %s", (station,)).fetchone()
    assert row is not None
    return int(str(row[0]))


@pytest.mark.usefixtures("cli_env")
def test_add_rotate_retire_reach_the_running_broker(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, service_env: dict[str, str], tmp_path: Path
) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    other = make_station(db).id
    tag = uuid.uuid4().hex[:8]
    ingest = Service(
        ["ingest"],
        {**service_env, "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}", "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}"},
        tmp_path / "ingest.log",
    )
    out = _vigie("stations", "add", station, *PLACE)
    first = _password(out)
    assert station in read_accounts(broker.files.passwd)
    # Shown once: the plain password is nowhere in the broker directory.
    for path in broker.directory.iterdir():
        if path.is_file():
            assert first not in path.read_text(errors="replace"), path

    with running(ingest, ready=READY):
        # The printed password works at once (SIGHUP, no restart), and the reading is stored.
        with publisher(_device_url(broker, station, first)) as device:
            assert device.publish(topic(station), reading(1, minute(1))) == 0
            # Its own topics only: another station's is refused (PUBACK 135 not authorised).
            assert device.publish(topic(other), reading(1, minute(1))) == 135
        wait_for(lambda: _count(db, station) == 1)
        assert _count(db, other) == 0

        # A rerun of `vigie broker init` keeps the account.
        init_broker(
            broker.directory, broker.port, device_port=broker.devices_port, gateways=broker.gateways
        )
        assert station in read_accounts(broker.files.passwd)

        second = _password(_vigie("stations", "rotate-password", station))
        assert second != first
        wait_for(lambda: _refused(_device_url(broker, station, first)), timeout=5)
        with publisher(_device_url(broker, station, second)) as device:
            assert device.publish(topic(station), reading(2, minute(2))) == 0
        wait_for(lambda: _count(db, station) == 2)

        live = Publisher(_device_url(broker, station, second))
        try:
            assert "retired" in _vigie("stations", "retire", station)
            # The live connection is dropped and no new one is accepted.
            wait_for(lambda: not live.client.is_connected(), timeout=5)
        finally:
            live.client.loop_stop()
        assert _refused(_device_url(broker, station, second))
    assert station not in read_accounts(broker.files.passwd)
    assert stations.get(db, station).active is False
    assert "disconnected from the broker" not in ingest.log()


@pytest.mark.usefixtures("cli_env")
def test_device_names_cannot_take_a_service_account(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker
) -> None:
    before = read_accounts(broker.files.passwd)
    for name in ("chirpstack", "vigie-ingest", "vigie-simulator", "vigie-anything"):
        new = stations.StationIn(id=name, name="x", commune_insee="60636", lat=49.4, lon=2.9)
        with pytest.raises(ValidationFailed, match=r"reserved|service or gateway"):
            provisioning.provision_station(db, new, broker.directory)
        with pytest.raises(ValidationFailed):
            stations.add(db, new)
        result = CliRunner().invoke(app, ["stations", "add", name, *PLACE])
        assert result.exit_code == 2
        assert "reserved" in result.output or "service or gateway" in result.output
    # The services' accounts share the password file: none was given a gauge's password.
    assert read_accounts(broker.files.passwd) == before
    assert "vigie-anything" not in before
    row = db.execute("SELECT count(*) FROM stations WHERE id = 'chirpstack'").fetchone()
    assert row == (0,)


def test_a_station_is_not_created_when_its_account_cannot_be_written(
    db: psycopg.Connection[tuple[object, ...]], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-broker"
    sid = f"st-{uuid.uuid4().hex[:8]}"
    new = stations.StationIn(id=sid, name="x", commune_insee="60636", lat=49.4, lon=2.9)
    with pytest.raises(OSError):
        provisioning.provision_station(db, new, missing)
    assert db.execute("SELECT count(*) FROM stations WHERE id = %s", (new.id,)).fetchone() == (0,)


def test_cli_says_where_the_broker_must_be(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VIGIE_BROKER__DIRECTORY", raising=False)
    result = CliRunner().invoke(app, ["stations", "rotate-password", "st-x"])
    assert result.exit_code == 2
    assert "VIGIE_BROKER__DIRECTORY" in result.output
    monkeypatch.setenv("VIGIE_BROKER__DIRECTORY", str(tmp_path))
    assert "run `vigie broker init` first" in CliRunner().invoke(app, ["stations", "retire", "st-x"]).output
    assert Settings().broker.directory == tmp_path
