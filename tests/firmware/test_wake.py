"""The fast wake-up under the real MicroPython, against the real Mosquitto: the saved access point
and its fallback scan, the reused DHCP lease and its fallback to DHCP, NTP once a day, and the
retained config read at boot and daily, with changes queued by the persistent session."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from tests.firmware.micropython import run_json
from tests.support import Broker

pytestmark = pytest.mark.usefixtures("micropython")

START = 1795852800
H = 3600


def wake(broker: Broker, hours: float, **data: Any) -> dict[str, Any]:
    station, password = f"wk-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    broker.add_device(station, password)
    base = {
        "start": START,
        "end": START + int(hours * H),
        "station": station,
        "port": broker.devices_port,
        "password": password,
        "api_port": broker.port,
        "api_password": broker.password("vigie-api"),
    }
    out: dict[str, Any] = run_json("case_wake.py", {**base, **data}, timeout=600)
    return out


def logged(out: dict[str, Any], text: str) -> list[int]:
    """The simulated seconds (from START) at which a log line containing `text` was written."""
    return [t - START for t, m in out["logs"] if text in m]


def test_the_saved_access_point_is_asked_first_and_a_replaced_one_falls_back_to_a_scan(
    broker: Broker,
) -> None:
    out = wake(broker, 6, events=[[START + 3 * H + 60, "ap_replaced", "0a0b0c0d0e0f"]])
    st = out["stats"]
    joins = st["joins"]
    assert joins >= 20  # a heartbeat every 15 min for 6 h
    # One scan at power-on, one after the access point was replaced; every other join went
    # straight to the saved BSSID.
    assert st["scans"] == 2 and st["hinted"] == joins - 2
    assert st["ap_fallback"] == 1
    assert logged(out, "saved access point a4b1c2d3e4f5 gone")[0] > 3 * H
    assert out["rtc"]["ap"] == ["0a0b0c0d0e0f", 11]  # the new one is saved for the next wake-up
    assert out["held"] == 0  # the fallback lost no reading


def test_a_reused_lease_skips_dhcp_and_a_refused_one_falls_back_to_dhcp_at_once(broker: Broker) -> None:
    # The router's lease is 1 h (the default assumption): an address is reused for 30 min.
    out = wake(broker, 6, events=[[START + 3 * H + 300, "renumber"]])
    st = out["stats"]
    assert st["joins"] >= 20
    # DHCP at about every other 15-min wake-up, plus the one the refusal forced.
    assert st["joins"] // 2 - 1 <= st["dhcp"] <= st["joins"] // 2 + 2
    assert st["lease_refused"] == 1
    refused = logged(out, "reused address refused")
    assert len(refused) == 1 and 3 * H + 300 < refused[0] < 3 * H + 300 + 1800
    assert out["rtc"]["lease"][0] == "10.1.0.42"  # the renumbered network's address
    assert out["held"] == 0 and out["meta"]["seq"] + 1 >= 24  # every reading delivered

    # The router's real lease in config.json (24 h): one DHCP in 6 h.
    long = wake(broker, 6, cfg={"wifi_lease_s": 86400})
    assert long["stats"]["dhcp"] == 1 and long["held"] == 0
    # A static address: never DHCP; no lease reuse at all.
    static = wake(broker, 2, cfg={"wifi_static_ip": ["10.0.0.42", "255.255.255.0", "10.0.0.1", "10.0.0.1"]})
    assert "dhcp" not in static["stats"] and "dhcp" not in static["stats"]["radio_by"]
    assert static["held"] == 0
    # wifi_lease_s 0: DHCP at every wake-up.
    never = wake(broker, 2, cfg={"wifi_lease_s": 0})
    assert never["stats"]["dhcp"] == never["stats"]["joins"]


def test_ntp_runs_once_a_day_not_at_every_wake_up(broker: Broker) -> None:
    out = wake(broker, 50)
    st = out["stats"]
    assert st["joins"] > 190
    assert st["ntp"] == 3  # at the first connection, then 24 h and 48 h later
    assert out["rtc"]["sync"] >= START + 48 * H
    old = wake(broker, 13, cfg={"ntp_every_s": 6 * H})
    assert old["stats"]["ntp"] == 3  # the previous firmware's 6 h: 0, 6 and 12 h


def test_a_config_change_queued_by_the_persistent_session_applies_at_the_next_wake_up(
    broker: Broker,
) -> None:
    body = json.dumps({"heartbeat_s": 1800})
    out = wake(broker, 4, events=[[START + H + 30, "config", {"body": body, "qos": 1}]])
    applied = logged(out, "config from broker: heartbeat_s")
    assert len(applied) == 1 and H + 30 < applied[0] <= H + 30 + 900 + 60
    assert out["heartbeat_s"] == 1800
    assert out["stats"]["subscribe"] == 1  # the boot's read only: no SUBSCRIBE per wake-up


def test_a_change_the_session_did_not_queue_applies_at_the_daily_read(broker: Broker) -> None:
    # Published at QoS 0 (mosquitto_pub's default): retained, but Mosquitto queues no QoS 0
    # message for a sleeping session, so only the next read of the retained topic sees it.
    body = json.dumps({"heartbeat_s": 1200})
    out = wake(broker, 26, events=[[START + 2 * H, "config", {"body": body, "qos": 0}]])
    applied = logged(out, "config from broker: heartbeat_s")
    assert len(applied) == 1 and 24 * H <= applied[0] <= 24 * H + 900 + 60
    assert out["stats"]["subscribe"] == 2  # at boot and 24 h later
    assert out["heartbeat_s"] == 1200


def test_a_change_the_session_did_not_queue_applies_at_the_next_boot(broker: Broker) -> None:
    body = json.dumps({"heartbeat_s": 1200})
    out = wake(
        broker,
        6,
        events=[[START + H, "config", {"body": body, "qos": 0}]],
        faults=[[START + 3 * H, "cut"]],  # a power cut: the gauge boots again
    )
    assert out["stats"]["power_cuts"] == 1
    boots = logged(out, "boot 2 (power)")
    applied = logged(out, "config from broker: heartbeat_s")
    assert len(boots) == 1 and len(applied) == 1
    assert boots[0] <= applied[0] <= boots[0] + 60  # at the new boot's first connection
    assert out["stats"]["subscribe"] == 2


def test_with_a_clean_session_the_config_is_read_only_when_due(broker: Broker) -> None:
    # mqtt_persistent off (the previous firmware's session): nothing is queued between reads,
    # so a QoS 1 change waits for the next read, every config_every_s.
    body = json.dumps({"heartbeat_s": 1200})
    out = wake(
        broker,
        13,
        cfg={"mqtt_persistent": False, "config_every_s": 6 * H},
        events=[[START + H, "config", {"body": body, "qos": 1}]],
    )
    assert out["stats"]["subscribe"] == 3  # 0, 6 and 12 h
    applied = logged(out, "config from broker: heartbeat_s")
    assert len(applied) == 1 and 6 * H <= applied[0] <= 6 * H + 900 + 60


def test_the_broker_name_is_resolved_at_boot_daily_and_after_a_failed_connection(broker: Broker) -> None:
    # 20 min without Wi-Fi at 3 h: the failed attempts drop the cached address (the broker may
    # have moved), so the first connection after it asks DNS again; then 24 h later.
    out = wake(broker, 30, cfg={"mqtt_host": "localhost"}, outages=[[START + 3 * H, START + 3 * H + 1200]])
    st = out["stats"]
    assert st["connect_failed"] >= 1
    assert st["connect"] > 110  # a heartbeat every 15 min
    assert st["dns"] == 3  # boot, after the outage, a day after that
    assert st["radio_by"]["dns"] == 3 * 50  # one round trip each (simboard.COSTS)
    host, ip, when = out["rtc"]["dns"]
    assert (host, ip) == ("localhost", "127.0.0.1") and when >= START + 27 * H
    assert out["held"] == 0  # every reading went to the real broker at the cached address
    # dns_every_s 0 (the previous firmware): DNS at every connection.
    every = wake(broker, 2, cfg={"mqtt_host": "localhost", "dns_every_s": 0})
    assert every["stats"]["dns"] == every["stats"]["connect"] >= 8 and every["held"] == 0
    # An address in config.json needs no DNS at all.
    literal = wake(broker, 2)
    assert "dns" not in literal["stats"] and literal["held"] == 0


def test_a_session_the_broker_lost_is_seen_at_the_pipelined_connack_and_the_config_read_again(
    broker: Broker,
) -> None:
    # The wake-ups after the boot pipeline CONNECT and read its CONNACK with the PUBACK; when
    # that CONNACK says the session is gone (its config subscription with it), the gauge
    # subscribes again in the same wake-up and gets the retained config: a change the lost
    # session never queued (QoS 0) applies then, not at the next daily read.
    body = json.dumps({"heartbeat_s": 1200})
    out = wake(
        broker,
        4,
        events=[[START + H - 300, "config", {"body": body, "qos": 0}], [START + H, "drop_session"]],
    )
    st = out["stats"]
    assert st["connack"] == 1  # the boot's connection only: every other one was pipelined
    assert st["subscribe"] == 2  # at boot, then after the lost session
    applied = logged(out, "config from broker: heartbeat_s")
    assert len(applied) == 1 and H < applied[0] <= H + 900 + 60
    assert out["heartbeat_s"] == 1200 and out["held"] == 0


def test_a_psk_in_config_json_skips_the_key_derivation_at_every_join(broker: Broker) -> None:
    # The PSK of firmware/psk.py (64 hex digits): ESP-IDF does not run PBKDF2 for it.
    key = hashlib.pbkdf2_hmac("sha1", b"passphrase-of-the-site", b"CC2V-Capteurs", 4096, 32).hex()
    with_psk = wake(broker, 2, cfg={"wifi_ssid": "CC2V-Capteurs", "wifi_psk": key})
    st = with_psk["stats"]
    assert st["joins"] >= 8 and "pbkdf2" not in st and "psk" not in st["radio_by"]
    assert with_psk["held"] == 0
    # The passphrase alone: the derivation at every join, charged to its own phase.
    plain = wake(broker, 2, cfg={"wifi_ssid": "CC2V-Capteurs", "wifi_password": "passphrase-of-the-site"})
    st = plain["stats"]
    assert st["pbkdf2"] == st["joins"] and st["radio_by"]["psk"] == 138 * st["joins"]
    # A damaged PSK (63 digits, or not hex) is not used: the passphrase still joins.
    for bad in (key[:-1], "g" + key[1:]):
        out = wake(broker, 1, cfg={"wifi_password": "passphrase-of-the-site", "wifi_psk": bad})
        assert out["stats"]["pbkdf2"] == out["stats"]["joins"] > 0 and out["held"] == 0
