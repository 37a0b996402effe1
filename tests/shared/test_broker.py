"""The generated broker on the real Mosquitto: client ids bound to device accounts (no takeover of
ingest or of another gauge), a gauge's account limited to its own topics on either listener,
gateway accounts only on request, password hashes that Mosquitto accepts."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import Publisher
from tests.support import Broker, Service, free_port, running, wait_for
from vigie.broker import GATEWAY_ACLS, LocalBroker, init_broker, mosquitto_conf, read_credentials
from vigie.broker_accounts import hash_password, read_accounts, reload_broker
from vigie.errors import ConfigError
from vigie.mqtt import parse_mqtt_url

READY = "subscribed to"
NOT_AUTHORIZED = 135  # MQTT 5 reason code of a PUBACK the ACL refused


def _count(db: psycopg.Connection[tuple[object, ...]], station: str) -> int:
    row = db.execute("SELECT count(*) FROM rain_readings WHERE station_id = %s", (station,)).fetchone()
    assert row is not None
    return int(str(row[0]))


def _mqtt311(url: str, client_id: str) -> mqtt.Client:
    address = parse_mqtt_url(url)
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=False,
    )
    client.username_pw_set(address.username, address.password)
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(address.host, address.port)
    client.loop_start()
    assert connected.wait(5), "no CONNACK"
    return client


def test_no_gauge_can_take_over_ingest_or_another_gauge(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, service_env: dict[str, str], tmp_path: Path
) -> None:
    victim, thief = make_station(db).id, make_station(db).id
    victim_url, thief_url = broker.add_device(victim), broker.add_device(thief)
    ingest_id = f"ingest-{uuid.uuid4().hex[:8]}"
    ingest = Service(
        ["ingest"],
        {**service_env, "VIGIE_INGEST__CLIENT_ID": ingest_id, "VIGIE_INGEST__SHARE_GROUP": ingest_id},
        tmp_path / "ingest.log",
    )
    with running(ingest, ready=READY):
        gauge = Publisher(victim_url)
        try:
            assert gauge.publish(topic(victim), reading(1, minute(1))) == 0
            # The stolen gauge tries ingest's client id, then the other gauge's. Bound to its
            # account, each connection gets the thief's own id: the only one it can kick is itself.
            first = Publisher(thief_url, client_id=ingest_id)
            assert first.publish(topic(thief), reading(1, minute(1))) == 0
            second = Publisher(thief_url, client_id=victim)
            wait_for(lambda: len(first.disconnects) > 0, timeout=5)
            first.client.loop_stop()
            time.sleep(1.0)  # a takeover shows within milliseconds: the old session is closed
            assert second.client.is_connected()
            assert second.publish(topic(thief), reading(2, minute(2))) == 0
            second.close()
            # The same over MQTT 3.1.1, where a client id is all a session has.
            old = _mqtt311(thief_url, ingest_id)
            time.sleep(1.0)
            assert old.is_connected()
            old.disconnect()
            old.loop_stop()
            assert gauge.client.is_connected() and gauge.disconnects == []
            assert "disconnected from the broker" not in ingest.log()
            # Ingest still consumes its own session: the victim's next reading is stored.
            assert gauge.publish(topic(victim), reading(2, minute(2))) == 0
            wait_for(lambda: _count(db, victim) == 2 and _count(db, thief) == 2)
        finally:
            gauge.close()
        # On the services listener (one password file serves both: src/vigie/broker.py), a
        # gauge's account has its own rights and no more: the other gauge's topic is refused.
        services = Publisher(thief_url.replace(f":{broker.devices_port}", f":{broker.port}"))
        try:
            assert services.publish(topic(victim), reading(3, minute(3))) == NOT_AUTHORIZED
            assert services.publish(topic(thief), reading(3, minute(3))) == 0
            wait_for(lambda: _count(db, thief) == 3)
            assert _count(db, victim) == 2
        finally:
            services.close()
    assert "disconnected from the broker" not in ingest.log()


def test_control_an_unbound_listener_does_allow_takeover(broker: Broker) -> None:
    """What the binding prevents, shown on the services listener (service accounts are trusted)."""
    cid = f"victim-{uuid.uuid4().hex[:6]}"
    first = Publisher(broker.url("vigie-simulator"), client_id=cid)
    try:
        second = Publisher(broker.url("vigie-simulator"), client_id=cid)
        wait_for(lambda: len(first.disconnects) > 0, timeout=5)
        second.close()
    finally:
        first.client.loop_stop()


def test_gateway_accounts_exist_only_when_asked_for(tmp_path: Path) -> None:
    files = init_broker(tmp_path / "plain", free_port())
    assert set(read_credentials(files.credentials)).isdisjoint(GATEWAY_ACLS)
    assert set(read_accounts(files.passwd)).isdisjoint(GATEWAY_ACLS)
    assert "vigie-simulator" not in files.acl.read_text()
    files = init_broker(tmp_path / "plain", free_port(), gateways=["vigie-simulator"])
    assert "vigie-simulator" in read_accounts(files.passwd)
    assert "chirpstack" not in read_accounts(files.passwd)
    # A rerun that does not ask for it removes it again; service passwords stay the same.
    before = read_credentials(files.credentials)
    files = init_broker(tmp_path / "plain", free_port())
    after = read_credentials(files.credentials)
    assert "vigie-simulator" not in after
    assert after == {k: v for k, v in before.items() if k != "vigie-simulator"}
    with pytest.raises(ConfigError, match="unknown gateway"):
        init_broker(tmp_path / "plain", free_port(), gateways=["everything"])
    with pytest.raises(ConfigError, match="service account"):
        init_broker(tmp_path / "plain", free_port(), devices={"chirpstack": "x"})


def test_conf_binds_client_ids_on_the_devices_listener_only(tmp_path: Path) -> None:
    text = mosquitto_conf(1883, tmp_path, device_port=8883)
    general, listeners = text.split("listener 1883")
    services, devices = listeners.split("listener 8883")
    # Security is global: per_listener_settings loses queued messages (test_broker_versions.py).
    assert not [line for line in text.splitlines() if line.startswith("per_listener_settings")]
    assert "allow_anonymous false" in general
    assert f"password_file {tmp_path / 'passwd'}\n" in general
    assert f"acl_file {tmp_path / 'acl'}\n" in general
    assert "use_username_as_clientid" not in services
    assert "use_username_as_clientid true" in devices
    assert text.count("password_file") == text.count("acl_file") == 1
    # What the broker reads is not world-readable (2.0.21 warns that it will refuse it).
    files = init_broker(tmp_path / "modes", free_port())
    for path in (files.passwd, files.acl, files.credentials):
        assert path.stat().st_mode & 0o007 == 0, path


def test_init_merges_the_gauges_files_of_the_per_listener_layout(tmp_path: Path) -> None:
    """A site set up before 2026-12-02 had the gauges' accounts in passwd-devices: a rerun of
    `vigie broker init` keeps every one of them, with its hash, and drops the old files."""
    directory = tmp_path / "site"
    directory.mkdir()
    old_passwd, old_acl = directory / "passwd-devices", directory / "acl-devices"
    old_hash = hash_password("old-secret")
    old_passwd.write_text(f"st-old:{old_hash}\n")
    old_acl.write_text("pattern write vigie/v1/gauges/%u/up\n")
    files = init_broker(directory, free_port(), devices={"st-new": "new-secret"})
    accounts = read_accounts(files.passwd)
    assert accounts["st-old"] == old_hash
    assert {"st-old", "st-new", "vigie-ingest"} <= set(accounts)
    assert not old_passwd.exists() and not old_acl.exists()
    # A second rerun keeps the gauges and rewrites nothing of theirs.
    again = read_accounts(init_broker(directory, free_port()).passwd)
    assert again["st-old"] == accounts["st-old"] and again["st-new"] == accounts["st-new"]
    assert "pattern write vigie/v1/gauges/%u/up" in files.acl.read_text()


def test_hashes_written_here_are_accepted_by_mosquitto_and_nothing_on_a_command_line() -> None:
    """Passwords with every URL-special character; written without mosquitto_passwd."""
    directory = Path(tempfile.mkdtemp(prefix="vigie-mosquitto-"))
    directory.chmod(0o755)
    broker = LocalBroker(directory, free_port(), device_port=free_port())
    tricky = "p/a@s:s%w?o#r&d= é"
    try:
        broker.start()
        broker.add_device("st-tricky", tricky)
        url = f"mqtt://st-tricky:{quote(tricky, safe='')}@127.0.0.1:{broker.devices_port}"
        Publisher(url).close()
        with pytest.raises(ConnectionRefusedError):
            Publisher(f"mqtt://st-tricky:{quote(tricky[:-1], safe='')}@127.0.0.1:{broker.devices_port}")
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)
    assert hash_password("x", salt=b"0" * 12).startswith("$7$101$")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_reload_by_a_user_that_may_not_signal_the_broker_says_so(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """As the API runs under systemd (user 'vigie', the broker as 'mosquitto'): False, a
    warning, no exception. The effective uid drops to nobody for the call only."""
    nobody = pwd.getpwnam("nobody").pw_uid
    os.seteuid(nobody)
    try:
        reloaded = reload_broker(broker.files.pid_file)
    finally:
        os.seteuid(0)
    assert reloaded is False
    assert "not allowed to signal mosquitto" in caplog.text
    assert broker.proc is not None and broker.proc.poll() is None
    assert reload_broker(broker.files.pid_file) is True  # as root, it may


def test_an_edge_brokers_bridge_section_keeps_its_password_to_the_broker(tmp_path: Path) -> None:
    from vigie.broker import Bridge

    bridge = Bridge("edge-1", "core.example", 18830, "core-bridge-pw", restart_s=7)
    files = init_broker(tmp_path / "edge", free_port(), bridge=bridge)
    text = files.conf.read_text()
    assert "connection vigie-bridge-edge-1\naddress core.example:18830\n" in text
    assert "remote_username vigie-bridge\nremote_password core-bridge-pw\n" in text
    assert "cleansession false" in text and "restart_timeout 1 7" in text
    # The gauges' topics only, QoS 1; nothing of the services' (alerts, cameras) goes up.
    topics = [line for line in text.splitlines() if line.startswith("topic ")]
    assert topics == [
        "topic vigie/v1/gauges/+/up out 1",
        "topic vigie/v1/gauges/+/status out 1",
        "topic vigie/v1/gauges/+/config in 1",
    ]
    assert files.conf.stat().st_mode & 0o077 == 0  # the core's password: the broker's alone
    assert "remote_password" not in init_broker(tmp_path / "core", free_port()).conf.read_text()
    for bad in (
        Bridge("edge 1", "h", 1, "pw"),
        Bridge("edge\nconnection x", "h", 1, "pw"),
        Bridge("edge-1", "h", 1, ""),
        Bridge("edge-1", "h", 1, "pw\nallow_anonymous true"),
    ):
        with pytest.raises(ConfigError, match="bridge"):
            init_broker(tmp_path / "bad", free_port(), bridge=bad)
    # The core's account for bridges exists only where asked for, with the gauges' topics.
    core = init_broker(tmp_path / "core", free_port(), gateways=["vigie-bridge"])
    assert "vigie-bridge" in read_credentials(core.credentials)
    acl = core.acl.read_text().split("user vigie-bridge\n")[1].split("\n\n")[0]
    assert acl.splitlines() == list(GATEWAY_ACLS["vigie-bridge"])


def test_vigie_broker_init_makes_an_edge_from_the_cores_credentials(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vigie.cli import app

    core = init_broker(tmp_path / "core", free_port(), gateways=["vigie-bridge"])
    edge = tmp_path / "edge"
    args = ["broker", "init", "--directory", str(edge), "--port", str(free_port()), "--bridge-to"]
    creds = ["--bridge-credentials", str(core.credentials)]
    done = CliRunner().invoke(app, [*args, "core.example:18830", "--bridge-name", "vallee", *creds])
    assert done.exit_code == 0, done.output
    text = (edge / "mosquitto.conf").read_text()
    assert f"remote_password {read_credentials(core.credentials)['vigie-bridge']}\n" in text
    assert "remote_clientid vigie-bridge-vallee\n" in text
    assert read_credentials(core.credentials)["vigie-bridge"] not in done.output
    for bad in (["nohost", *creds], ["core.example:99999", *creds], ["core.example:18830"]):
        refused = CliRunner().invoke(app, [*args, *bad])
        assert refused.exit_code == 2 and "bridge" in refused.output, refused.output
