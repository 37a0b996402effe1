"""A connection the broker refuses (a wrong password), or a broker that answers nonsense, under the
real MicroPython: the readings stay in flash, the gauge does not reset, it retries with an
exponential backoff up to the heartbeat, and once the account is fixed every reading arrives
once, with the failures reported on the retained status for a technician."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.firmware.linkproxy import LinkProxy, answer_after_reading
from tests.firmware.micropython import run_json
from tests.support import Broker, wait_for

pytestmark = pytest.mark.usefixtures("micropython")

START = 1795852800
H = 3600


class Control:
    """What the simulated world calls when its `control` event comes: here, the account's fix
    in the broker's password file (as `vigie stations rotate-password` or a technician would)."""

    def __init__(self, action: Any) -> None:
        self.action = action
        self.calls: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                what = f.readline().decode().strip()
                self.calls.append(what)
                self.action(what)
                f.write(b"done " + what.encode() + b"\n")
                f.flush()

    def close(self) -> None:
        self.server.close()


class Answering:
    """A TCP server on the gauge's broker port that answers every connection with `reply` (the
    bytes a broker should not send) and closes it."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            answer_after_reading(conn, self.reply)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def listener(broker: Broker) -> Iterator[tuple[str, list[bytes], dict[str, bytes]]]:
    """A station id and what Vigie's side receives on its up and status topics."""
    station = f"lf-{uuid.uuid4().hex[:6]}"
    up: list[bytes] = []
    status: dict[str, bytes] = {}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"l-{station}")
    c.username_pw_set("vigie-api", broker.password("vigie-api"))

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        if m.topic.endswith("/up"):
            up.append(bytes(m.payload))
        else:
            status[m.topic] = bytes(m.payload)

    c.on_message = on_message
    c.connect("127.0.0.1", broker.port)
    c.subscribe([(f"vigie/v1/gauges/{station}/up", 1), (f"vigie/v1/gauges/{station}/status", 1)])
    c.loop_start()
    try:
        yield station, up, status
    finally:
        c.loop_stop()
        c.disconnect()


def readings(messages: list[bytes]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        doc = json.loads(m)
        out.extend(doc["readings"] if "readings" in doc else [doc])
    return out


def five_hours(
    broker: Broker, station: str, password: str, control: Control, events: list[list[Any]], **data: Any
) -> dict[str, Any]:
    """case_wake.py for 5 h with the gauge's `password` and the `control` events (the account's
    password changed in the broker's file as they come)."""
    out: dict[str, Any] = run_json(
        "case_wake.py",
        {
            "start": START,
            "end": START + 5 * H,
            "station": station,
            "port": broker.devices_port,
            "password": password,
            "api_port": broker.port,
            "api_password": broker.password("vigie-api"),
            "control_port": control.port,
            "events": events,
            "logs_kept": 2000,
            **data,
        },
        timeout=900,
    )
    return out


def attempts(out: dict[str, Any]) -> list[int]:
    """Simulated seconds (from START) of each failed connection attempt."""
    return [t - START for t, m in out["logs"] if m.startswith("link down (")]


def test_a_wrong_password_keeps_the_readings_backs_off_and_delivers_once_fixed(
    broker: Broker, listener: tuple[str, list[bytes], dict[str, bytes]]
) -> None:
    station, up, status = listener
    right, wrong = uuid.uuid4().hex, uuid.uuid4().hex
    broker.add_device(station, wrong)  # the account's password is not the gauge's
    control = Control(lambda _what: broker.add_device(station, right))
    # An hour of rain (a tip every 30 s) from the second minute: a reading due every minute.
    tips = [START + 120 + 30 * i for i in range(120)]
    fix = START + 3 * H + 100
    try:
        out = five_hours(broker, station, right, control, [[fix, "control", "fix-password"]], tips=tips)
    finally:
        control.close()
    st = out["stats"]
    assert control.calls == ["fix-password"]
    # No reset loop: every boot was a deep-sleep wake-up, the refusal never escaped.
    assert st["resets"] == 0 and st["power_cuts"] == 0
    assert not [m for _, m in out["logs"] if "crash" in m]
    tried = attempts(out)
    assert tried and all(t < fix - START for t in tried)
    # Mosquitto refuses a wrong password on MQTT 3.1.1 with CONNACK 5 (not authorised).
    assert all("mqtt_refused_5" in m for _, m in out["logs"] if m.startswith("link down ("))
    # The backoff: the waits between attempts double from 1 min and stop at the heartbeat
    # (15 min), even while a reading is due every minute in the rain.
    gaps = [b - a for a, b in itertools.pairwise(tried)]
    assert gaps[:4] == sorted(gaps[:4]) and gaps[0] < 300 and gaps[3] > gaps[0]
    assert max(gaps) <= 900 + 60 and min(gaps) >= 59
    # Without a backoff, the 3 h refused would have tried at each of ~60 rain readings and
    # ~10 heartbeats; with it, 4 attempts in the first quarter hour, then one per heartbeat.
    assert 12 <= len(tried) <= 20
    assert st["connect_deferred"] > 40  # readings recorded while the link waited
    # Held in flash until the fix, then every reading delivered exactly once.
    assert out["held"] == 0
    made = out["meta"]["seq"] + 1
    wait_for(lambda: len(readings(up)) >= made, timeout=20)
    got = readings(up)
    assert sorted(r["seq"] for r in got) == list(range(made))
    assert sum(r["tips"] for r in got) == len(tips) == out["meta"]["counter"]
    delivered = [t - START for t, m in out["logs"] if m.startswith("connected after")]
    assert len(delivered) == 1 and fix - START < delivered[0] <= fix - START + 900 + 60
    # What a technician finds afterwards: the retained status counts the failures since boot.
    topic = f"vigie/v1/gauges/{station}/status"
    wait_for(lambda: topic in status, timeout=10)
    diag = json.loads(status[topic])
    assert diag["state"] == "online" and diag["connect_failures"] == len(tried)
    assert diag["last_failure"] == "mqtt_refused_5"
    assert out["rtc"]["lf"][:3] == [0, len(tried), "mqtt_refused_5"]


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        # The connection closed without a CONNACK: seen on the read, or on a write (EPIPE, reset).
        (b"", {"indexerror", "os_32", "os_104"}),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", {"assertionerror"}),  # not MQTT at all
        (b"\x20\x02\x00\x86", {"mqtt_refused_134"}),  # a CONNACK with a code MQTT 3.1.1 lacks
        (b"\x20\x02\x00\x04" + b"\xff" * 70000, {"mqtt_refused_4"}),  # refused, then a flood
    ],
)
def test_a_broker_answering_nonsense_never_resets_the_gauge(reply: bytes, why: set[str]) -> None:
    server = Answering(reply)
    try:
        out: dict[str, Any] = run_json(
            "case_wake.py",
            {
                "start": START,
                "end": START + 2 * H,
                "tips": [START + 600 + 40 * i for i in range(30)],
                "station": f"nz-{uuid.uuid4().hex[:6]}",
                "port": server.port,
                "password": "x",
                "api_port": 1,
                "api_password": "",
            },
            timeout=300,
        )
    finally:
        server.close()
    st = out["stats"]
    assert st["resets"] == 0
    tried = attempts(out)
    assert tried and server.connections >= len(tried)
    reasons = {m[len("link down (") :].split(")")[0] for _, m in out["logs"] if m.startswith("link down (")}
    assert reasons and reasons <= why
    # Something answered: the address works, so no DHCP retry after each failure.
    assert "lease_refused" not in st
    assert out["held"] == out["meta"]["seq"] + 1 > 0  # nothing left the flash
    assert out["rtc"]["lf"][1] == len(tried) and out["rtc"]["lf"][2] in why
    assert len(tried) <= 2 * 4 + 5  # backed off: not one per reading


def test_a_password_changed_while_the_gauge_runs_is_refused_at_the_pipelined_connack(
    broker: Broker, listener: tuple[str, list[bytes], dict[str, bytes]]
) -> None:
    # After the boot's connection (which reads the config and waits for its CONNACK), each
    # wake-up writes CONNECT, the status and the reading at once and reads the CONNACK with
    # the PUBACK. A refusal there is a failed connection like any other, and the broker must
    # not have taken the reading sent behind the refused CONNECT (MQTT 3.1.1, 3.1.4): it is
    # sent again once the account works, and arrives once.
    station, up, _ = listener
    right, wrong = uuid.uuid4().hex, uuid.uuid4().hex
    broker.add_device(station, right)
    control = Control(lambda what: broker.add_device(station, wrong if what == "break" else right))
    broken, fixed = START + H + 100, START + 3 * H + 100
    try:
        events = [[broken, "control", "break"], [fixed, "control", "fix"]]
        out = five_hours(broker, station, right, control, events)
    finally:
        control.close()
    st = out["stats"]
    assert control.calls == ["break", "fix"]
    assert st["resets"] == 0
    # Only the boot's connection waited for its CONNACK alone; every other was pipelined.
    assert st["connack"] == 1 and st["connect"] >= 18
    tried = attempts(out)
    assert tried and all(broken - START < t < fixed - START for t in tried)
    assert all("mqtt_refused_5" in m for _, m in out["logs"] if m.startswith("link down ("))
    assert len(tried) <= 12  # backed off to one a heartbeat, as a refusal at CONNECT is
    assert out["held"] == 0
    made = out["meta"]["seq"] + 1
    wait_for(lambda: len(readings(up)) >= made, timeout=20)
    assert sorted(r["seq"] for r in readings(up)) == list(range(made))
    assert out["rtc"]["lf"][:3] == [0, len(tried), "mqtt_refused_5"]


@pytest.mark.parametrize(
    ("junk", "why"),
    [
        (b"", {"indexerror", "os_32", "os_104"}),  # closed without a CONNACK
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", {"assertionerror"}),  # not MQTT
        (b"\x20\x02", {"indexerror", "os_32", "os_104"}),  # a CONNACK cut short
        (b"\x20\x02\x00\x04" + b"\xff" * 70000, {"mqtt_refused_4", "os_32", "os_104"}),
    ],
)
def test_nonsense_behind_a_pipelined_connect_keeps_every_reading(
    broker: Broker, listener: tuple[str, list[bytes], dict[str, bytes]], junk: bytes, why: set[str]
) -> None:
    # The broker for an hour (the boot's connection, then pipelined ones), then an hour in which
    # every connection is answered with `junk` after the gauge has written CONNECT, its status
    # and a reading, then the broker again: no reset, the failures backed off, every reading
    # delivered once.
    station, up, _ = listener
    password = uuid.uuid4().hex
    broker.add_device(station, password)
    proxy = LinkProxy(broker.devices_port)
    proxy.junk = junk
    try:
        out: dict[str, Any] = run_json(
            "case_e2e.py",
            {
                "start": START,
                "end": START + 3 * H,
                "tips": [START + H + 600 + 45 * i for i in range(40)],  # rain inside the hour
                "cuts": [[START + H, START + 2 * H, "junk"]],
                "station": station,
                "port": proxy.port,
                "control_port": proxy.control_port,
                "password": password,
            },
            timeout=600,
        )
    finally:
        proxy.close()
    st = out["stats"]
    assert "junk" in proxy.modes_seen and st["resets"] == 0
    assert st["connack"] == 1  # only the boot's connection waited for its CONNACK alone
    reasons = {m[len("link down (") :].split(")")[0] for m in out["logs"] if m.startswith("link down (")}
    assert reasons and reasons <= why
    assert 2 <= st["connect_failed"] <= 4 + 4  # 1, 2, 4, 8 min, then the heartbeat
    assert out["held"] == 0 and out["meta"]["counter"] == 40
    made = out["meta"]["seq"] + 1
    wait_for(lambda: len(readings(up)) >= made, timeout=20)
    assert sorted(r["seq"] for r in readings(up)) == list(range(made))
