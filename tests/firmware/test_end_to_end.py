"""The firmware under MicroPython's Unix port, through the real Mosquitto and ingest, into
TimescaleDB: the link is cut mid-storm and restored, and every tip arrives exactly once."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest

from tests.factories import make_station
from tests.firmware.linkproxy import LinkProxy
from tests.firmware.micropython import run_json
from tests.firmware.services import ingest
from tests.support import Broker, running, wait_for
from vigie.mqtt import connect_client, make_client, parse_mqtt_url

pytestmark = pytest.mark.usefixtures("micropython")


def publish_retained(broker: Broker, topic: str, body: str) -> None:
    """Publish a retained message as vigie-api, the account that writes gauges' settings."""
    client = make_client(parse_mqtt_url(broker.url("vigie-api")), f"cfg-{uuid.uuid4().hex[:6]}")
    connect_client(client, parse_mqtt_url(broker.url("vigie-api")))
    client.loop_start()
    try:
        info = client.publish(topic, body, qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_storm_with_link_cuts_reaches_the_database_exactly_once(
    db: psycopg.Connection[tuple[object, ...]],
    broker: Broker,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    station = make_station(db, f"fw-{tag}").id
    password = uuid.uuid4().hex
    broker.add_device(station, password)
    # The retained settings the gauge reads at connect: 30 min heartbeats instead of 15.
    publish_retained(broker, f"vigie/v1/gauges/{station}/config", json.dumps({"heartbeat_s": 1800}))

    now = int(datetime.now(UTC).timestamp()) // 60 * 60 - 600
    start, storm = now - 8 * 3600, now - 5 * 3600
    rng = random.Random(4)
    tips: list[float] = []
    t = float(storm)
    while t < storm + 2 * 3600:  # 2 h of rain, a tip every 5 to 60 s (about 40 mm)
        tips.append(t)
        t += rng.uniform(5, 60)
    cuts = [
        [storm + 1800, storm + 2400, "noack"],  # PUBACKs lost: the broker has what it re-gets
        [storm + 2400, storm + 4200, "cut"],  # 30 min without a link, mid-storm
    ]
    proxy = LinkProxy(broker.devices_port)  # the gauges' listener
    try:
        with running(ingest(service_env, tmp_path), ready="subscribed to"):
            out: dict[str, Any] = run_json(
                "case_e2e.py",
                {
                    "start": start,
                    "end": now,
                    "tips": tips,
                    "cuts": cuts,
                    "station": station,
                    "port": proxy.port,
                    "control_port": proxy.control_port,
                    "password": password,
                },
                timeout=600,
            )
            made = out["meta"]["seq"] + 1

            def stored() -> tuple[object, ...] | None:
                return db.execute(
                    "SELECT count(*)::int, coalesce(sum(tips), 0)::int FROM rain_readings"
                    " WHERE station_id = %s",
                    (station,),
                ).fetchone()

            wait_for(lambda: stored() == (made, len(tips)), timeout=60)
    finally:
        proxy.close()
    assert out["held"] == 0 and out["dropped"] == 0
    assert out["meta"]["counter"] == len(tips)
    assert "cut" in proxy.modes_seen and "noack" in proxy.modes_seen
    # Lost PUBACKs made the gauge send some readings twice; ingest kept one of each.
    assert proxy.dropped_acks > 0 and out["readings_out"] > made
    assert out["cfg"] == 1800 and any("config from broker: heartbeat_s" in m for m in out["logs"])
    rows = db.execute(
        "SELECT ts, interval_s, seq, counter FROM rain_readings WHERE station_id = %s ORDER BY ts",
        (station,),
    ).fetchall()
    assert [r[2] for r in rows] == list(range(made))  # every reading once, in order
    before_storm = datetime.fromtimestamp(storm, UTC) - timedelta(minutes=1)
    dry = [r for r in rows if isinstance(r[0], datetime) and r[0] < before_storm]
    # The retained config applied from the first connect: 30 min heartbeats (to the second the
    # gauge spends awake), where the default is 15 min.
    assert len(dry) > 3 and all(1800 <= int(str(r[1])) <= 1802 for r in dry[1:])
    dead = db.execute("SELECT count(*)::int FROM dead_letters WHERE topic LIKE %s", (f"%{station}%",))
    assert dead.fetchone() == (0,)
    status = db.execute("SELECT online FROM device_status WHERE station_id = %s", (station,)).fetchone()
    assert status is not None and status[0] is True
