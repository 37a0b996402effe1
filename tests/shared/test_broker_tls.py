"""The broker's TLS listeners on the real Mosquitto: `vigie broker init --tls` material, a service
that verifies the certificate, and clients with the wrong CA, no CA or no TLS refused."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import Publisher
from tests.support import Broker, Service, free_port, running, wait_for
from vigie.broker_tls import ensure_generated, generated_paths
from vigie.cli import app

READY = "subscribed to"


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[Broker]:
    directory = Path(tempfile.mkdtemp(prefix="vigie-mosquitto-tls-"))
    directory.chmod(0o755)
    b = Broker(directory, free_port(), tls_hosts=["broker.deux-vallees.example"])
    b.start()
    yield b
    b.stop()
    shutil.rmtree(directory, ignore_errors=True)


def test_a_service_verifies_the_broker_and_stores_a_tls_device_reading(
    db: psycopg.Connection[tuple[object, ...]],
    tls_broker: Broker,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    ca = generated_paths(tls_broker.directory).ca_cert
    station = make_station(db).id
    device_url = tls_broker.add_device(station)
    assert device_url.startswith("mqtts://")
    tag = uuid.uuid4().hex[:8]
    ingest = Service(
        ["ingest"],
        {
            **service_env,
            "VIGIE_MQTT_URL": tls_broker.url("vigie-ingest"),
            "VIGIE_MQTT_CA_FILE": str(ca),
            "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}",
            "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
        },
        tmp_path / "ingest.log",
    )
    with running(ingest, ready=READY):
        device = Publisher(device_url, ca_file=ca)
        try:
            assert device.publish(topic(station), reading(1, minute(1))) == 0
        finally:
            device.close()
        wait_for(lambda: db.execute("SELECT count(*) FROM rain_readings").fetchone() == (1,))
    assert tls_broker.password("vigie-ingest") not in ingest.log()


# paho 2.2 does not close the socket of a failed TLS handshake; its ResourceWarning is not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_wrong_ca_no_ca_and_plain_mqtt_are_refused(tls_broker: Broker, tmp_path: Path) -> None:
    other_ca = ensure_generated(tmp_path / "other", []).ca_cert
    for port_url in (tls_broker.url("vigie-ingest"), tls_broker.url("vigie-simulator")):
        with pytest.raises(ssl.SSLCertVerificationError):
            Publisher(port_url, ca_file=other_ca)
        with pytest.raises(ssl.SSLCertVerificationError):
            Publisher(port_url)  # the system's CAs do not know the site's own CA
    # No TLS at all: the listener never answers in clear.
    with pytest.raises((ConnectionError, AssertionError, OSError)):
        Publisher(tls_broker.url("vigie-ingest").replace("mqtts://", "mqtt://"))


def test_init_tls_keeps_the_ca_across_reruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIE_BROKER__TLS_CA_FILE", raising=False)
    args = ["broker", "init", "--directory", str(tmp_path), "--port", str(free_port()), "--tls"]
    result = CliRunner().invoke(app, [*args, "--tls-host", "broker"])
    assert result.exit_code == 0, result.output
    files = generated_paths(tmp_path)
    ca, server = files.ca_cert.read_bytes(), files.server_cert.read_bytes()
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert conf.count(f"certfile {files.server_cert}") == 2  # both listeners
    assert (tmp_path / "tls" / "ca.der").exists()
    assert (tmp_path / "tls" / "ca.key").stat().st_mode & 0o077 == 0
    assert CliRunner().invoke(app, [*args, "--tls-host", "broker"]).exit_code == 0
    assert files.ca_cert.read_bytes() == ca and files.server_cert.read_bytes() == server
    # A new host name: a new server certificate, from the same CA.
    assert CliRunner().invoke(app, [*args, "--tls-host", "gauges.example"]).exit_code == 0
    assert files.ca_cert.read_bytes() == ca and files.server_cert.read_bytes() != server


def test_a_supplied_certificate_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = ensure_generated(tmp_path / "site-pki", ["mqtt.site.example"])
    monkeypatch.setenv("VIGIE_BROKER__TLS_CA_FILE", str(own.ca_cert))
    monkeypatch.setenv("VIGIE_BROKER__TLS_CERT_FILE", str(own.server_cert))
    monkeypatch.setenv("VIGIE_BROKER__TLS_KEY_FILE", str(own.server_key))
    out = tmp_path / "broker"
    result = CliRunner().invoke(app, ["broker", "init", "--directory", str(out), "--tls"])
    assert result.exit_code == 0, result.output
    assert f"certfile {own.server_cert}" in (out / "mosquitto.conf").read_text()
    assert not (out / "tls").exists()
    monkeypatch.setenv("VIGIE_BROKER__TLS_KEY_FILE", str(tmp_path / "missing.key"))
    result = CliRunner().invoke(app, ["broker", "init", "--directory", str(out), "--tls"])
    assert result.exit_code == 2 and "does not exist" in result.output
