"""Gauge -> MQTT -> `vigie ingest` -> NOTIFY -> `vigie alerts` -> incident, all real processes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from tests.alerts.rain import changes, only_rules
from tests.factories import make_station
from tests.mqtt_helpers import Publisher
from tests.support import Broker, Service, running, wait_for

Conn = psycopg.Connection[Any]
TOPIC = "vigie/v1/gauges/thourotte-mairie/up"


def _accepted(pub: Publisher, body: str) -> bool:
    return pub.publish(TOPIC, body) == 0


def test_storm_through_real_ingest_opens_then_escalates(
    db: Conn, service_env: dict[str, str], broker: Broker, tmp_path: Path
) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    tag = uuid.uuid4().hex[:8]
    ingest_env = {
        **service_env,
        "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
        "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}",
        "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
    }
    alerts_env = {k: v for k, v in service_env.items() if k != "VIGIE_MQTT_URL"}
    ingest = Service(["ingest"], ingest_env, tmp_path / "ingest.log")
    alerts = Service(["alerts"], alerts_env, tmp_path / "alerts.log")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    # 10 mm, 8 mm, 14 mm in three 5-min intervals: 18 mm (yellow), then 32 mm (orange) in 1 h.
    storm = [(end - timedelta(minutes=10), 50), (end - timedelta(minutes=5), 40), (end, 70)]
    with running(ingest), running(alerts):
        pub = Publisher(broker.url("vigie-simulator"))
        try:
            for i, (ts, tips) in enumerate(storm):
                body = json.dumps({"seq": i, "ts": ts.isoformat(), "tips": tips, "interval_s": 300})
                # Until ingest has subscribed, the broker answers "no matching subscribers" (16).
                wait_for(partial(_accepted, pub, body), timeout=30, interval=0.2)
                if i == 1:
                    wait_for(lambda: [k for _, k, *_ in changes(db)] == ["opened"], timeout=30)
            wait_for(lambda: [k for _, k, *_ in changes(db)] == ["opened", "escalated"],
                     timeout=30)
            # The same process publishes each change as CAP 1.2 (alerts.cap.CapWriter).
            wait_for(lambda: _cap_types(db) == ["Alert", "Update"], timeout=30)
        finally:
            pub.client.loop_stop()
            pub.client.disconnect()
    levels = [(k, lvl) for _, k, lvl, *_ in changes(db)]
    assert levels == [("opened", "yellow"), ("escalated", "orange")]

    values = [v for (v,) in db.execute("SELECT value FROM incident_changes ORDER BY id")]
    assert values == [18.0, 32.0]
    assert "Traceback" not in alerts.log()


def _cap_types(db: Conn) -> list[str]:
    return [str(t) for (t,) in db.execute("SELECT msg_type FROM cap_messages ORDER BY id")]
