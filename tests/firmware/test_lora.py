"""The LoRaWAN path: frames from the firmware's encoder (under MicroPython), the ChirpStack v4
codec (firmware/chirpstack/codec.js) under Node, and its output through ingest as an uplink."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest

from tests.factories import make_station
from tests.firmware.micropython import REPO, run_json
from tests.firmware.services import ingest
from tests.support import Broker, running, wait_for
from vigie.mqtt import connect_client, make_client, parse_mqtt_url

pytestmark = pytest.mark.usefixtures("micropython")
CODEC = REPO / "firmware" / "chirpstack"
DECODE = (
    "const fs=require('fs'),vm=require('vm');const s={};"
    "vm.runInNewContext(fs.readFileSync(process.argv[1],'utf8'),s);"
    "const f=JSON.parse(fs.readFileSync(process.argv[2],'utf8'));"
    "console.log(JSON.stringify(f.map(h=>s.decodeUplink({bytes:Array.from(Buffer.from(h,'hex')),fPort:2}))));"
)


def node() -> str:
    found = shutil.which("node")
    assert found, "node is needed for the ChirpStack codec's tests"
    return found


def frames(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    inputs = [
        {
            "seq": rng.randint(0, 200_000),
            "tips": rng.randint(0, 300),
            "counter": rng.choice([0, 4_294_967_295, rng.randint(0, 10**9)]),
            "battery_mv": rng.randint(2800, 4200),
            "interval_s": rng.randint(1, 65535),
            "flags": rng.randint(0, 15),
        }
        for _ in range(n)
    ]
    out = run_json("case_encode.py", {"readings": [], "frames": inputs})
    return [{"hex": h, "input": i} for h, i in zip(out["frames"], inputs, strict=True)]


def test_the_codec_decodes_the_firmwares_frames_under_node(tmp_path: Path) -> None:
    cases = frames(300, seed=2)
    assert all(len(c["hex"]) == 28 for c in cases)
    fixture = tmp_path / "frames.json"
    fixture.write_text(json.dumps(cases))
    proc = subprocess.run(
        [node(), "--test", str(CODEC / "codec.test.js")],
        capture_output=True,
        text=True,
        env={"FRAMES": str(fixture), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# pass 3" in proc.stdout and "# fail 0" in proc.stdout


def test_out_of_range_values_are_refused_by_the_encoder() -> None:
    bad = [
        {"seq": 1, "tips": 70000, "counter": 1, "battery_mv": 3700, "interval_s": 60},
        {"seq": 1, "tips": 1, "counter": -1, "battery_mv": 3700, "interval_s": 60},
        {"seq": 1, "tips": 1, "counter": 1, "battery_mv": 3700, "interval_s": 0},
        {"seq": 1, "tips": 1, "counter": 1, "battery_mv": 3700, "interval_s": 86400},
        {"seq": 1, "tips": 1, "counter": 1, "battery_mv": 3.7, "interval_s": 60},
    ]
    for b in bad:
        with pytest.raises(AssertionError, match="ValueError"):
            run_json("case_encode.py", {"readings": [], "frames": [b]})


def test_a_decoded_uplink_goes_through_ingest(
    db: psycopg.Connection[tuple[object, ...]],
    broker: Broker,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    dev_eui = uuid.uuid4().hex[:16]
    station = make_station(db, f"lora-{tag}", dev_eui=dev_eui, interval_s=600).id
    inputs = [
        {"seq": 9, "tips": 4, "counter": 1234, "battery_mv": 3655, "interval_s": 600, "flags": 0},
        {"seq": 10, "tips": 0, "counter": 1234, "battery_mv": 3650, "interval_s": 600, "flags": 4},
    ]
    hexes = run_json("case_encode.py", {"readings": [], "frames": inputs})["frames"]
    assert len(hexes) == 2
    fixture = tmp_path / "hex.json"
    fixture.write_text(json.dumps(hexes))
    decoded = json.loads(
        subprocess.run(
            [node(), "-e", DECODE, str(CODEC / "codec.js"), str(fixture)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    address = parse_mqtt_url(broker.url("chirpstack"))
    client = make_client(address, f"cs-{tag}")
    with running(ingest(service_env, tmp_path), ready="subscribed to"):
        connect_client(client, address)
        client.loop_start()
        try:
            for i, out in enumerate(decoded):
                uplink = {
                    "deduplicationId": str(uuid.uuid4()),
                    "time": (now + timedelta(minutes=10 * i)).isoformat(),
                    "deviceInfo": {"applicationName": "deux-vallees", "devEui": dev_eui},
                    "fCnt": 500 + i,
                    "fPort": 2,
                    "object": out["data"],
                    "rxInfo": [{"gatewayId": "0016c001ff1e0001", "rssi": -109, "snr": 3.5}],
                }
                topic = f"application/deux-vallees/device/{dev_eui}/event/up"
                info = client.publish(topic, json.dumps(uplink), qos=1)
                info.wait_for_publish(10)
                assert info.rc == mqtt.MQTT_ERR_SUCCESS
        finally:
            client.loop_stop()
            client.disconnect()

        def rows() -> list[tuple[object, ...]]:
            return db.execute(
                "SELECT seq, tips, counter, interval_s, battery_v, rssi FROM rain_readings"
                " WHERE station_id = %s ORDER BY ts",
                (station,),
            ).fetchall()

        wait_for(lambda: len(rows()) == 2, timeout=30)
    got = rows()
    assert [r[:4] for r in got] == [(500, 4, 1234, 600), (501, 0, 1234, 600)]
    assert got[0][4] == pytest.approx(3.66, abs=1e-6) and got[0][5] == -109
