"""Past one machine (issue 14, section 6): two ingest processes and two alert engines at once.

`vigie ingest` with PROCESSES=2 runs two workers on the broker's shared subscription, and two
`vigie alerts` processes run side by side on the same database (the engine's passes are
serialised by an advisory lock, the notifiers claim deliveries with SKIP LOCKED). Against the
ground truth of what the test published: every reading stored once, every incident opened once,
every e-mail and SMS received once at the real local SMTP server and SMSEagle stand-in.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from simulators.sinks import SmsSink, SmtpSink
from tests.alerts.notify_helpers import add_subscriber
from tests.alerts.rain import only_rules
from tests.factories import make_station
from tests.mqtt_helpers import Publisher
from tests.support import Broker, Service, running, wait_for

Conn = psycopg.Connection[Any]
# The 16 seeded communes of the Deux Vallées: one storm station and one subscriber in each, so
# no subscriber has two incidents to group into one message.
COMMUNES = ["60043", "60119", "60147", "60150", "60368", "60373", "60378", "60392", "60423",
            "60492", "60501", "60537", "60582", "60636", "60642", "60654"]
DRY_STATIONS = 48
DRY_READINGS = 11  # per station, every 5 min, ending 15 min ago
REPEATS = 100  # messages published twice, as a gauge that missed its PUBACK does


def _body(seq: int, ts: datetime, tips: int, interval_s: int) -> str:
    return json.dumps({"seq": seq, "ts": ts.isoformat(), "tips": tips, "interval_s": interval_s})


def test_two_ingest_workers_and_two_alert_engines_count_exactly_once(
    db: Conn, service_env: dict[str, str], broker: Broker, tmp_path: Path
) -> None:
    only_rules(db, "Cumul 1 h%")
    storm_ids = [f"so-storm-{c}" for c in COMMUNES]
    dry_ids = [f"so-dry-{i:02d}" for i in range(DRY_STATIONS)]
    for i, sid in enumerate(storm_ids):
        make_station(db, sid, commune=COMMUNES[i])
    for i, sid in enumerate(dry_ids):
        make_station(db, sid, commune=COMMUNES[i % len(COMMUNES)])
    smtp, sms = SmtpSink().start(), SmsSink().start()
    for i, insee in enumerate(COMMUNES):
        add_subscriber(
            db,
            f"Mairie {insee}",
            [
                {"kind": "email", "url": smtp.apprise_url(f"mairie-{insee}@example.org")},
                {"kind": "sms", "url": sms.apprise_url(f"+336000000{i:02d}")},
            ],
            communes=(insee,),
        )
    tag = uuid.uuid4().hex[:8]
    base = {**service_env, "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true"}
    ingest = Service(
        ["ingest"],
        {
            **base,
            "VIGIE_INGEST__PROCESSES": "2",
            "VIGIE_INGEST__CLIENT_ID": f"so-{tag}",
            "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
        },
        tmp_path / "ingest.log",
    )
    alerts_env = {
        **{k: v for k, v in base.items() if k != "VIGIE_MQTT_URL"},
        "VIGIE_PUBLIC_URL": "https://vigie.example.org",
        "VIGIE_ALERTS__GROUP_HOLD_S": "1",
        "VIGIE_ALERTS__POLL_S": "0.2",
    }
    alerts_a = Service(["alerts"], alerts_env, tmp_path / "alerts-a.log")
    alerts_b = Service(["alerts"], alerts_env, tmp_path / "alerts-b.log")
    now = datetime.now(UTC).replace(microsecond=0)
    dry = [
        (f"vigie/v1/gauges/{sid}/up", _body(k, now - timedelta(minutes=15 + 5 * k), 0, 300))
        for sid in [*storm_ids, *dry_ids]
        for k in range(DRY_READINGS)
    ]
    storms = [(f"vigie/v1/gauges/{sid}/up", _body(1000, now, 160, 600)) for sid in storm_ids]
    try:
        with running(ingest), running(alerts_a), running(alerts_b):
            # Both alert processes are live and competing before any rain: two engines LISTENing,
            # two notifiers with their pools.
            wait_for(lambda: _apps(db)["vigie-alerts-engine"] == 2, timeout=30)
            # The notifiers' pools open their connections in the background: waited for, not
            # read once (make test at 23:54 read 0 just after the engines were there).
            wait_for(lambda: _apps(db)["vigie-notifier"] >= 2, timeout=30)
            pub = Publisher(broker.url("vigie-simulator"))
            try:
                # Until both workers have subscribed, the broker answers "no matching subscribers"
                # (16); the probe is a real reading and counts in the ground truth.
                first = dry[0]
                wait_for(lambda: pub.publish(*first) == 0, timeout=30, interval=0.2)
                wait_for(lambda: _subscribed(ingest) >= 2, timeout=30)
                codes = pub.publish_many(dry[1:] + storms + dry[:REPEATS])
                assert set(codes) == {0}
            finally:
                pub.client.loop_stop()
                pub.client.disconnect()
            expected_readings = len(dry) + len(storms)
            wait_for(lambda: _count(db, "SELECT count(*) FROM rain_readings") >= expected_readings,
                     timeout=30)
            wait_for(lambda: _count(db, "SELECT count(*) FROM incidents") >= len(storm_ids), timeout=30)
            expected = _expected_messages(db)
            wait_for(lambda: len(smtp.messages) >= expected and len(sms.messages) >= expected,
                     timeout=30)
            # Late doubles must have the time to show: a second engine's pass or a second claim.
            time.sleep(3)
            mails, texts = smtp.messages, sms.messages
    finally:
        sms.stop()
        smtp.stop()

    # Readings: every one stored once, the repeats counted as duplicates, both workers busy.
    assert _count(db, "SELECT count(*) FROM rain_readings") == expected_readings
    assert _count(db, "SELECT count(*) FROM (SELECT DISTINCT station_id, ts FROM rain_readings) d") \
        == expected_readings
    workers = {
        str(w): c
        for w, c in db.execute("SELECT worker, counters FROM ingest_metrics WHERE worker LIKE %s",
                               (f"so-{tag}%",))
    }
    assert len(workers) == 2, workers
    assert all(int(c["stored"]) > 0 for c in workers.values()), workers
    assert sum(int(c["stored"]) for c in workers.values()) == expected_readings
    assert sum(int(c["duplicates"]) for c in workers.values()) == REPEATS

    # Incidents: one per storm station, opened once.
    scopes = [str(s) for (s,) in db.execute("SELECT scope_id FROM incidents ORDER BY scope_id")]
    assert scopes == sorted(storm_ids)
    opened = Counter(
        int(i) for (i,) in db.execute("SELECT incident_id FROM incident_changes WHERE kind = 'opened'")
    )
    assert len(opened) == len(storm_ids) and set(opened.values()) == {1}

    # Notifications: what the outbox asked for, each received once at the sinks.
    expected = _expected_messages(db)
    assert expected >= len(storm_ids)
    assert len(mails) == expected, [m["subject"] for m in mails]
    assert len(texts) == expected, [t["text"] for t in texts]
    assert _dups(Counter((tuple(m["rcpt_tos"]), m["subject"], m["body"]) for m in mails)) == 0
    assert _dups(Counter((t["to"], t["text"]) for t in texts)) == 0
    assert {m["rcpt_tos"][0] for m in mails} == {f"mairie-{c}@example.org" for c in COMMUNES}
    assert _count(db, "SELECT count(*) FROM deliveries WHERE state <> 'accepted'") == 0
    for s in (ingest, alerts_a, alerts_b):
        assert "Traceback" not in s.log()


def _subscribed(ingest: Service) -> int:
    return ingest.log().count("subscribed to 3 topic filters")


def _apps(db: Conn) -> Counter[str]:
    return Counter(
        str(a)
        for (a,) in db.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        )
    )


def _count(db: Conn, sql: str) -> int:
    row = db.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _expected_messages(db: Conn) -> int:
    """One message per subscriber and notify=true change (one subscriber per commune here)."""
    return _count(db, "SELECT count(*) FROM incident_changes WHERE notify")


def _dups(counts: Counter[Any]) -> int:
    return sum(c - 1 for c in counts.values() if c > 1)
