"""TLS when a CA certificate is on the gauge's flash (a test CA made with openssl), the config
topic's hostile payloads, and the watchdog fed from the main loop alone."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.firmware.micropython import GAUGE, run_json
from tests.support import Broker, free_port, wait_for
from vigie.broker_tls import generated_paths

pytestmark = pytest.mark.usefixtures("micropython")
START = 1795852800


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[dict[str, object]]:
    """The project's broker with TLS on both listeners (`vigie broker init --tls`'s own CA), and
    a second CA, made with openssl, that signed nothing."""
    d = Path(tempfile.mkdtemp(prefix="vigie-tls-"))
    d.chmod(0o755)
    b = Broker(d, free_port(), tls_hosts=["localhost"])
    b.start()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Other CA",
            "-keyout", "other.key", "-out", "other.pem", cwd=d)  # fmt: skip
    station, password = f"tls-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    b.add_device(station, password)
    try:
        yield {"broker": b, "ca": generated_paths(d).ca_cert, "other": d / "other.pem",
               "station": station, "password": password}  # fmt: skip
    finally:
        b.stop()


def _listen(port: int, password: str, topic: str, ca: Path | None = None) -> tuple[mqtt.Client, list[bytes]]:
    got: list[bytes] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"l-{uuid.uuid4().hex[:6]}")
    c.username_pw_set("vigie-api", password)
    if ca is not None:
        c.tls_set(ca_certs=str(ca))
    c.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    return c, got


def test_the_gauge_speaks_tls_when_a_ca_is_on_its_flash(tls_broker: dict[str, object]) -> None:
    station = str(tls_broker["station"])
    b = tls_broker["broker"]
    assert isinstance(b, Broker)
    ca = Path(str(tls_broker["ca"]))
    client, got = _listen(b.port, b.password("vigie-api"), f"vigie/v1/gauges/{station}/up", ca=ca)
    try:
        out = run_json(
            "case_tls.py",
            {
                "start": START,
                "end": START + 3600,
                "tips": [START + 600 + 20 * i for i in range(10)],
                "station": station,
                "port": b.devices_port,
                "password": tls_broker["password"],
                "ca": ca.read_text(),  # what `vigie broker init --tls` wrote as tls/ca.crt
            },
            timeout=300,
        )
        made = out["meta"]["seq"] + 1
        wait_for(lambda: sum(len(json.loads(p).get("readings", [p])) for p in got) >= made, timeout=20)
    finally:
        client.loop_stop()
        client.disconnect()
    assert out["held"] == 0 and out["meta"]["counter"] == 10
    tips = 0
    for p in got:
        body = json.loads(p)
        tips += sum(r["tips"] for r in body.get("readings", [body]))
    assert tips == 10


def test_a_broker_the_ca_did_not_sign_is_refused(tls_broker: dict[str, object]) -> None:
    b = tls_broker["broker"]
    assert isinstance(b, Broker)
    out = run_json(
        "case_tls.py",
        {
            "start": START,
            "end": START + 1800,
            "tips": [START + 600],
            "station": tls_broker["station"],
            "port": b.devices_port,
            "password": tls_broker["password"],
            "ca": Path(str(tls_broker["other"])).read_text(),
        },
        timeout=300,
    )
    assert out["held"] == out["meta"]["seq"] + 1 > 0  # nothing left the flash
    assert any("mqtt connect failed" in m for m in out["logs"])


def test_the_config_topic_refuses_malformed_out_of_range_and_hostile_payloads() -> None:
    bodies = [
        '{"heartbeat_s": 1800, "rain_interval_s": 120}',
        "{not json",
        "[1, 2]",
        '"heartbeat_s"',
        '{"heartbeat_s": 10}',  # below its range
        '{"heartbeat_s": 1e9}',
        '{"heartbeat_s": "900"}',
        '{"heartbeat_s": true}',
        '{"mqtt_host": "evil.example"}',  # not remotely settable: credentials, broker, Wi-Fi
        '{"station": "other-gauge"}',
        '{"heartbeat_s": 1800, "wifi_password": "x"}',  # one bad key refuses the whole message
        '{"max_batch": ' + "9" * 400 + "}",
        "{" + ",".join(f'"k{i}": {i}' for i in range(2000)) + "}",
    ]
    out = run_json("case_config.py", {"bodies": bodies})
    assert out[0]["ok"] == ["heartbeat_s", "rain_interval_s"]
    assert out[0]["cfg"]["heartbeat_s"] == 1800
    for body, result in zip(bodies[1:], out[1:], strict=True):
        assert "error" in result and result["unchanged"], body


def test_the_watchdog_is_fed_only_from_the_main_loop() -> None:
    calls = {path.name: len(re.findall(r"hw\.feed\(\)", path.read_text())) for path in GAUGE.glob("*.py")}
    assert {k: v for k, v in calls.items() if v} == {"gauge.py": 1}
    source = (GAUGE / "gauge.py").read_text()
    run = source.split("    def run(self", 1)[1].split("\ndef ", 1)[0]
    assert "self.hw.feed()" in run


def test_a_gauge_reads_its_own_config_topic_and_no_other(broker: Broker) -> None:
    mine, other = f"cfg-{uuid.uuid4().hex[:6]}", f"cfg-{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    broker.add_device(mine, password)
    broker.add_device(other)
    api = broker.password("vigie-api")
    for station in (mine, other):
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p-{station}")
        pub.username_pw_set("vigie-api", api)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish(
            f"vigie/v1/gauges/{station}/config", '{"heartbeat_s": 1200}', qos=1, retain=True
        ).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
    got: dict[str, bytes] = {}
    granted: list[list[int]] = []
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"d-{mine}", protocol=mqtt.MQTTv5)
    dev.username_pw_set(mine, password)
    dev.on_message = lambda _c, _u, m: got.__setitem__(m.topic, bytes(m.payload))
    dev.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.append([c.value for c in codes])
    dev.connect("127.0.0.1", broker.devices_port)
    dev.loop_start()
    try:
        dev.subscribe([(f"vigie/v1/gauges/{mine}/config", 1), (f"vigie/v1/gauges/{other}/config", 1)])
        wait_for(lambda: granted and f"vigie/v1/gauges/{mine}/config" in got, timeout=10)
        time.sleep(0.5)  # both retained messages go out right after the SUBACK
    finally:
        dev.loop_stop()
        dev.disconnect()
    assert got == {f"vigie/v1/gauges/{mine}/config": b'{"heartbeat_s": 1200}'}
    # Mosquitto grants the other subscription but its ACL read check delivers nothing from it.
    assert granted[0][0] == 1
    # A gauge may not write its own settings either.
    assert "pattern write vigie/v1/gauges/%u/config" not in (broker.directory / "acl").read_text()


def test_without_ntp_readings_wait_an_hour_then_go_flagged(broker: Broker) -> None:
    station, password = f"ntp-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    broker.add_device(station, password)
    client, got = _listen(broker.port, broker.password("vigie-api"), f"vigie/v1/gauges/{station}/up")
    try:
        out = run_json(
            "case_tls.py",
            {
                "start": START,
                "end": START + 3 * 3600,
                "tips": [START + 600 + 30 * i for i in range(20)],
                "station": station,
                "host": "127.0.0.1",
                "port": broker.devices_port,
                "password": password,
                "ntp": False,  # NTP blocked, the broker reachable, the RTC at 2000-01-01
                "synced_rtc": False,
            },
            timeout=300,
        )
        made = out["meta"]["seq"] + 1
        wait_for(lambda: _count(got) + out["held"] >= made, timeout=20)
    finally:
        client.loop_stop()
        client.disconnect()
    readings = [r for p in got for r in json.loads(p).get("readings", [json.loads(p)])]
    assert readings and all(r["clock"] == "unsynced" and r["ts"].startswith("2000-01-01") for r in readings)
    assert 0 < out["held"] < made  # the last hour's readings still wait for NTP
    assert sum(r["tips"] for r in readings) <= 20


def _count(got: list[bytes]) -> int:
    return sum(len(json.loads(p).get("readings", [p])) for p in got)
