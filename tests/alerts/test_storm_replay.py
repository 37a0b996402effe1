"""A storm replayed by the gauge simulator, through the real ingest, engine, notifier and SMS gateway.

The simulator replays the last minutes at 60x, then runs in real time: the storm's readings
arrive one after another (the total rises through yellow, then orange), then the storm leaves
the 15-min window as the clock moves on and the incident resolves. Each step reaches the
subscriber exactly once. Slow by nature (the window has to slide): 1 to 6 minutes.
"""

from __future__ import annotations

import math
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from simulators.gauges.faults import FaultRates
from simulators.gauges.fleet import make_fleet, register
from simulators.gauges.hyetograph import montana_for
from simulators.gauges.publisher import GatewayPublisher
from simulators.gauges.runner import RunOptions, Simulation, StormPlan
from simulators.sinks import SmsSink
from tests.alerts.rain import changes
from tests.support import Broker, Service, running, wait_for
from vigie.mqtt import parse_mqtt_url

Conn = psycopg.Connection[Any]
PHONE = "+33611111111"


def _rules(db: Conn) -> None:
    """Only a 15-min accumulation pair, so the storm can leave the window within minutes."""
    db.execute("UPDATE rules SET enabled = false")
    for level, raise_mm, clear_mm in (("yellow", 3, 1.5), ("orange", 7, 4)):
        db.execute(
            "INSERT INTO rules (name, kind, scope_kind, scope_id, level, params)"
            " VALUES (%s, 'accumulation', 'station', '*', %s, %s)",
            (
                f"Cumul 15 min — {level}",
                level,
                Jsonb({"window_min": 15, "raise": raise_mm, "clear": clear_mm, "for_min": 0}),
            ),
        )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_simulated_storm_opens_escalates_resolves_and_each_message_arrives_once(
    db: Conn, broker: Broker, service_env: dict[str, str], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    fleet = make_fleet(1, seed=5, interval_s=30, prefix=f"r{tag}-")
    register(db, fleet)
    _rules(db)
    sms = SmsSink().start()
    db.execute(
        "INSERT INTO subscribers (name, communes, channels) VALUES ('Mairie', %s, %s)",
        ([fleet[0].commune.insee], Jsonb([{"kind": "sms", "url": sms.apprise_url(PHONE)}])),
    )
    now = datetime.now(UTC)
    # The engine sums 5-min rollup buckets: bucket b counts in the 15-min window while
    # b > now - 20 min. The whole storm goes into the earliest bucket still in the window, so it
    # leaves the window 0.5 to 5.5 min after the start, whatever the minute of the hour.
    earliest = math.ceil((now - timedelta(minutes=19.5)).timestamp() / 300) * 300
    bucket = datetime.fromtimestamp(earliest, UTC)
    # A 3-min block storm (50-year depth for 3 min, ~9.5-16 mm at the gauge).
    plan = StormPlan("block", bucket + timedelta(minutes=0.25), timedelta(minutes=3), montana_for(50))
    options = RunOptions(
        start=bucket - timedelta(minutes=1), speed=60, until=now + timedelta(minutes=9), seed=5
    )
    ingest_env = {
        **service_env,
        "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}",
        "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
    }
    alerts_env = {
        **service_env,
        "VIGIE_ALERTS__SWEEP_INTERVAL_S": "10",
        "VIGIE_ALERTS__GROUP_HOLD_S": "1",
        "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",  # the SMS sink is on loopback
    }
    del alerts_env["VIGIE_MQTT_URL"]
    stop = threading.Event()
    pub = GatewayPublisher(parse_mqtt_url(broker.url("vigie-simulator")))
    sim = Simulation(fleet, plan, FaultRates(), options, pub, stop=stop)
    runner = threading.Thread(target=sim.run, daemon=True)
    try:
        with (
            running(Service(["ingest"], ingest_env, tmp_path / "ingest.log"), ready="subscribed to"),
            running(
                Service(["alerts"], alerts_env, tmp_path / "alerts.log"), ready="notifier ready"
            ) as alerts,
        ):
            runner.start()
            wait_for(lambda: "resolved" in [k for _, k, *_ in changes(db)], timeout=500, interval=1)
            wait_for(lambda: any("FIN D'ALERTE" in m["text"] for m in sms.messages), timeout=60)
            alerts_log = alerts.log()
    finally:
        stop.set()
        runner.join(timeout=30)
        pub.close()
        sms.stop()
    steps = [(k, lvl) for _, k, lvl, *_ in changes(db)]
    assert steps[:2] == [("opened", "yellow"), ("escalated", "orange")]
    assert steps[-1][0] == "resolved" and len(steps) in (3, 4)  # maybe orange -> yellow on the way
    texts = [m["text"] for m in sms.messages if m["to"] == PHONE]
    where = fleet[0].commune.name
    if texts[0].startswith("Vigie ALERTE JAUNE"):
        assert texts[1].startswith("Vigie ALERTE ORANGE") and where in texts[0]
    else:
        # The escalation came within the grouping hold: the new orange took the pending yellow
        # along in one SMS (a new orange is never held, a yellow may be).
        assert texts[0].startswith(f"Vigie ALERTE ORANGE {where}") and "Limitez" in texts[0]
    assert texts[-1].startswith("Vigie FIN D'ALERTE")
    # Every notified change reached the subscriber exactly once (alone or grouped), and the
    # gateway got exactly one SMS per message sent.
    per_change = db.execute(
        "SELECT c.kind, count(d.id), bool_and(d.state = 'accepted') FROM incident_changes c"
        " LEFT JOIN deliveries d ON d.incident_change_id = c.id WHERE c.notify GROUP BY c.id, c.kind"
    ).fetchall()
    assert per_change and all(n == 1 and ok for _, n, ok in per_change), per_change
    leaders = db.execute("SELECT count(*) FROM deliveries WHERE grouped_into IS NULL").fetchone()
    assert leaders is not None and len(texts) == leaders[0] == len(set(texts))
    assert "Traceback" not in alerts_log
