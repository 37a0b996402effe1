"""bench-alerts: threshold crossing -> e-mail latency under ingest load, evaluation cost, SMS fan-out.

Not a test (issue 3, section 7). Three parts, all on the real services:
  1. latency: 500 stations, a background fleet publishing dry readings at >= 2,000 readings/s
     through `vigie ingest`; one station at a time gets a single reading of 160 tips (32 mm) over
     600 s, which crosses the 1 h orange threshold (30 mm). Latency = from just before that
     publish to the moment the local SMTP server has the e-mail, for every crossing;
  2. evaluation cost per ingest batch at 1,000 and 10,000 stations (bench/alerts_eval.py);
  3. fan-out: one red incident to 5,000 SMS subscribers through the local SMSEagle stand-in.
Lost and duplicated notifications are counted at the sinks against what should have arrived.
Prints one JSON line and rewrites the bench-alerts section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.types.json import Jsonb

from bench.alerts_eval import COMMUNES
from bench.alerts_eval import run as eval_cost
from simulators.sinks import SmsSink, SmtpSink
from tests.mqtt_helpers import Publisher
from tests.support import Broker, Service, create_database, db_url, drop_database, free_port, wait_for
from vigie.migrate import migrate
from vigie.mqtt import connect_client, make_client, parse_mqtt_url

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
INCIDENT_LINK = re.compile(r"/incidents/(\d+)")


def station_ids(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(n)]


def background_fleet(url: str, n_stations: int, rate: float, stop_at: float, out: Any) -> None:
    """Publish dry single readings (0 tips) for every station at `rate` messages/s until stop_at.

    Runs in its own process at nice 10: in the field the gauges are other machines."""
    os.nice(10)
    address = parse_mqtt_url(url)
    client = make_client(address, f"bench-fleet-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_a: acked.release()
    connect_client(client, address)
    client.loop_start()
    ids = station_ids(n_stations)
    sent, window, tick = 0, 20_000, 0.05
    started = time.monotonic()
    while time.time() < stop_at:
        due = int((time.monotonic() - started) * rate)
        while sent < due:
            if sent >= window:
                acked.acquire()
            body = json.dumps({"seq": sent, "ts": datetime.now(UTC).isoformat(), "tips": 0, "interval_s": 60})
            client.publish(f"vigie/v1/gauges/{ids[sent % len(ids)]}/up", body, qos=1)
            sent += 1
        time.sleep(tick)
    for _ in range(min(window, sent)):
        acked.acquire()
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    out.put({"published": sent, "seconds": elapsed})


def setup_stations(conn: psycopg.Connection[Any], n: int) -> None:
    with conn.cursor().copy("COPY stations (id, name, commune_insee, lat, lon) FROM STDIN") as copy:
        for i, sid in enumerate(station_ids(n)):
            copy.write_row(
                (sid, sid, COMMUNES[i % len(COMMUNES)], 49.40 + (i % 50) * 0.004, 2.80 + (i // 50) * 0.01)
            )


def add_subscriber(
    conn: psycopg.Connection[Any], name: str, communes: list[str], min_level: str, kind: str, url: str
) -> None:
    conn.execute(
        "INSERT INTO subscribers (name, communes, min_level, channels) VALUES (%s, %s, %s, %s)",
        (name, communes, min_level, Jsonb([{"kind": kind, "url": url}])),
    )


def incident_station(conn: psycopg.Connection[Any], cache: dict[int, str], body: str) -> str | None:
    """The station of the incident an e-mail links to."""
    match = INCIDENT_LINK.search(body)
    if not match:
        return None
    iid = int(match.group(1))
    if iid not in cache:
        row = conn.execute("SELECT scope_id FROM incidents WHERE id = %s", (iid,)).fetchone()
        if row is None:
            return None
        cache[iid] = str(row[0])
    return cache[iid]


def duplicates(messages: list[dict[str, Any]], key: tuple[str, ...]) -> int:
    counts = Counter(tuple(str(m[k]) for k in key) for m in messages)
    return sum(c - 1 for c in counts.values() if c > 1)


def latency_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 1: crossing -> e-mail, with ingest and the engine under a background load."""
    name = create_database()
    url = db_url(name)
    broker_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-broker-"))
    broker_dir.chmod(0o755)
    broker = Broker(broker_dir, free_port())
    smtp = SmtpSink().start()
    try:
        migrate(url)
        broker.start()
        with psycopg.connect(url, autocommit=True) as conn:
            setup_stations(conn, args.stations)
            for insee in COMMUNES:
                add_subscriber(
                    conn,
                    f"Mairie {insee}",
                    [insee],
                    "orange",
                    "email",
                    smtp.apprise_url(f"mairie-{insee}@example.org"),
                )
            # The SMS sink listens on loopback: allowed explicitly (vigie.outbound).
            env = {
                "VIGIE_DATABASE_URL": url,
                "VIGIE_LOG_LEVEL": "INFO",
                "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",
            }
            ingest = Service(
                ["ingest"],
                {
                    **env,
                    "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
                    "VIGIE_INGEST__CLIENT_ID": "bench-ingest",
                },
                work / "ingest.log",
            )
            alerts = Service(
                ["alerts"],
                {**env, "VIGIE_PUBLIC_URL": "http://vigie.example"},
                work / "alerts.log",
            )
            ingest.start()
            alerts.start()
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            crossing_pub = Publisher(broker.url("vigie-simulator"))
            try:
                # Until ingest has subscribed, the broker answers "no matching subscribers" (16).
                probe = json.dumps(
                    {"seq": 0, "ts": datetime.now(UTC).isoformat(), "tips": 0, "interval_s": 60}
                )
                wait_for(
                    lambda: crossing_pub.publish("vigie/v1/gauges/bench-0000/up", probe) == 0, timeout=60
                )
                time.sleep(5)  # let the engine's start-up catch-up pass finish
                duration = args.crossings * args.spacing_s + 20
                t_start = time.time()
                fleet = ctx.Process(
                    target=background_fleet,
                    args=(
                        broker.url("vigie-simulator"),
                        args.stations,
                        args.fleet_rate,
                        t_start + duration,
                        q,
                    ),
                )
                fleet.start()
                time.sleep(5)  # the load is established before the first crossing
                crossings = crossing_stations(args.stations, args.crossings)
                sent_at: dict[str, float] = {}
                for i, sid in enumerate(crossings):
                    body = json.dumps(
                        {
                            "seq": 10**9 + i,
                            "ts": datetime.now(UTC).isoformat(),
                            "tips": 160,
                            "interval_s": 600,
                        }
                    )
                    sent_at[sid] = time.time()
                    code = crossing_pub.publish(f"vigie/v1/gauges/{sid}/up", body)
                    if code != 0:
                        raise RuntimeError(f"crossing publish refused: {code}")
                    time.sleep(args.spacing_s)
                fleet.join(duration + 60)
                fleet_out = q.get(timeout=10)
                t_end = time.time()
                time.sleep(10)  # late e-mails still count, as lost ones must show
            finally:
                crossing_pub.client.loop_stop()
                crossing_pub.client.disconnect()
                alerts.stop()
                ingest.stop()
            stored = conn.execute(
                "SELECT count(*) FROM rain_readings"
                " WHERE received_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
                (t_start, t_end),
            ).fetchone()
            cache: dict[int, str] = {}
            mails = smtp.messages
            first_mail: dict[str, float] = {}
            for m in mails:
                station = incident_station(conn, cache, m["body"])
                if station is not None and station in sent_at and m["received_at"] >= sent_at[station]:
                    first_mail[station] = min(first_mail.get(station, m["received_at"]), m["received_at"])
            delays = sorted(first_mail[s] - sent_at[s] for s in sent_at if s in first_mail)
            stages = stage_medians(conn, sent_at, first_mail)
            accepted = conn.execute(
                "SELECT count(*) FROM deliveries WHERE state = 'accepted' AND grouped_into IS NULL"
            ).fetchone()
            undelivered = conn.execute("SELECT count(*) FROM deliveries WHERE state <> 'accepted'").fetchone()
            return {
                "crossings": len(crossings),
                "emails_received": len(mails),
                "deliveries_accepted": int(accepted[0]) if accepted else 0,
                "latency_p50_s": round(statistics.median(delays), 3) if delays else None,
                "latency_p99_s": round(percentile(delays, 0.99), 3) if delays else None,
                "latency_p90_s": round(percentile(delays, 0.9), 3) if delays else None,
                "latency_max_s": round(max(delays), 3) if delays else None,
                "latencies_s": [round(d, 3) for d in delays],
                # A crossing whose e-mail never came, plus any delivery left unsent.
                "lost_notifications": (len(crossings) - len(delays))
                + (int(undelivered[0]) if undelivered else 0),
                "duplicate_notifications": duplicates(mails, ("rcpt_tos", "subject", "body")),
                "latency_stages_median_s": stages,
                "fleet_publish_per_s": round(fleet_out["published"] / fleet_out["seconds"]),
                "ingest_stored_per_s": round(int(stored[0] if stored else 0) / (t_end - t_start)),
            }
    finally:
        smtp.stop()
        broker.stop()
        drop_database(name)


# Where the time goes, per crossing: the reading stored by ingest (its received_at), the incident
# change written by the engine, the delivery row made by the dispatcher, the SMTP server's receipt.
_STAGES_SQL = """
SELECT r.received_at, c.at, d.created_at
  FROM rain_readings r
  JOIN incidents i ON i.scope_id = r.station_id AND i.kind = 'accumulation'
  JOIN incident_changes c ON c.incident_id = i.id AND c.kind = 'opened'
  LEFT JOIN deliveries d ON d.incident_change_id = c.id
 WHERE r.station_id = %s AND r.tips = 160
 ORDER BY d.created_at LIMIT 1
"""


def stage_medians(
    conn: psycopg.Connection[Any], sent_at: dict[str, float], first_mail: dict[str, float]
) -> dict[str, float]:
    """Median seconds of each hop: publish->received by ingest, ->incident change, ->delivery row,
    ->SMTP server."""
    hops: dict[str, list[float]] = {"ingest": [], "engine": [], "dispatch": [], "send": []}
    for sid, published in sent_at.items():
        row = conn.execute(_STAGES_SQL, (sid,)).fetchone()
        if row is None or row[2] is None or sid not in first_mail:
            continue
        stored, changed, queued = (t.timestamp() for t in row)
        hops["ingest"].append(stored - published)
        hops["engine"].append(changed - stored)
        hops["dispatch"].append(queued - changed)
        hops["send"].append(first_mail[sid] - queued)
    return {k: round(statistics.median(v), 3) for k, v in hops.items() if v}


def crossing_stations(n_stations: int, n: int) -> list[str]:
    """Distinct stations, spread over the communes (stride coprime with 16)."""
    ids = station_ids(n_stations)
    return [ids[(i * 7) % n_stations] for i in range(n)]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def fanout_part(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 3: one red incident to N SMS subscribers; time to the last SMS at the stand-in."""
    name = create_database()
    url = db_url(name)
    sms = SmsSink().start()
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            setup_stations(conn, 16)
            with conn.cursor().copy(
                "COPY subscribers (name, communes, min_level, channels) FROM STDIN"
            ) as copy:
                for i in range(args.fanout):
                    channel = [{"kind": "sms", "url": sms.apprise_url(f"+3361{i:07d}")}]
                    copy.write_row((f"Habitant {i}", ["60636"], "yellow", json.dumps(channel)))
            # The SMS sink listens on loopback: allowed explicitly (vigie.outbound).
            env = {
                "VIGIE_DATABASE_URL": url,
                "VIGIE_LOG_LEVEL": "INFO",
                "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",
            }
            alerts = Service(["alerts"], env, work / "alerts-fanout.log")
            # Only the red incident below may produce messages: no rule fires on an empty network.
            conn.execute("UPDATE rules SET enabled = false")
            alerts.start()
            try:
                time.sleep(5)  # the dispatcher is listening
                now = datetime.now(UTC)
                with conn.transaction():
                    row = conn.execute(
                        "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, communes,"
                        " title, opened_at, updated_at, level_since, max_level, last_value, window_min)"
                        " VALUES ('accumulation', 'bench', 'station', 'bench-0013', 'red', '{60636}',"
                        " 'Cumul 1 h — rouge', %s, %s, %s, 'red', 52.4, 60) RETURNING id",
                        (now, now, now),
                    ).fetchone()
                    assert row is not None
                    change = conn.execute(
                        "INSERT INTO incident_changes"
                        " (incident_id, at, kind, level, value, window_min, notify)"
                        " VALUES (%s, %s, 'opened', 'red', 52.4, 60, true) RETURNING id",
                        (row[0], now),
                    ).fetchone()
                    assert change is not None
                    conn.execute("SELECT pg_notify('vigie_incident_change', %s)", (str(change[0]),))
                committed = time.time()
                deadline = committed + args.fanout_timeout_s
                while len(sms.messages) < args.fanout and time.time() < deadline:
                    time.sleep(0.05)
                done = max((m["received_at"] for m in sms.messages), default=committed)
                time.sleep(3)  # anything sent twice shows up now
            finally:
                alerts.stop()
            got = sms.messages
            recipients = {m["to"] for m in got}
            return {
                "fanout_subscribers": args.fanout,
                "fanout_seconds": round(done - committed, 2),
                "fanout_messages_per_s": round(len(recipients) / (done - committed), 1)
                if done > committed
                else None,
                "fanout_lost": args.fanout - len(recipients),
                "fanout_duplicates": len(got) - len(recipients),
                "fanout_sms_chars_max": max((len(m["text"]) for m in got), default=0),
            }
    finally:
        sms.stop()
        drop_database(name)


def write_docs(result: dict[str, Any]) -> None:
    """Replace (or add) the bench-alerts section of docs/benchmarks.md."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    head = "## bench-alerts"
    lines = [
        head,
        "",
        f"`make bench-alerts` ({result['date']}, {result['machine']}). {result['stations']} stations; a "
        f"background fleet published {result['fleet_publish_per_s']} dry readings/s and ingest stored "
        f"{result['ingest_stored_per_s']}/s while {result['crossings']} stations, one at a time, each got "
        "one reading of 160 tips (32 mm) over 600 s, which crosses the 1 h orange threshold (30 mm).",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| crossing -> e-mail at the SMTP server, p50 | {result['latency_p50_s']} s | |",
        f"| crossing -> e-mail at the SMTP server, p99 | {result['latency_p99_s']} s | <= 1 s |",
        f"| lost / duplicated notifications | {result['lost_notifications']} / "
        f"{result['duplicate_notifications']} | 0 / 0 |",
        f"| evaluation CPU per ingest batch, 1,000 stations | {result.get('eval_cpu_ms_per_batch_1k')} ms |"
        " |",
        f"| evaluation CPU per ingest batch, 10,000 stations | {result.get('eval_cpu_ms_per_batch_10k')}"
        " ms | |",
        f"| fan-out, one red incident to {result['fanout_subscribers']} SMS subscribers | "
        f"{result['fanout_messages_per_s']} SMS/s ({result['fanout_seconds']} s), lost "
        f"{result['fanout_lost']}, doubled {result['fanout_duplicates']} | >= 20 SMS/s |",
        "",
        "Raw line:",
        "",
        "```json",
        json.dumps(result),
        "```",
        "",
    ]
    section = "\n".join(lines)
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--fleet-rate", type=float, default=2500.0, help="background readings/s")
    parser.add_argument("--crossings", type=int, default=60)
    parser.add_argument("--spacing-s", type=float, default=1.5)
    parser.add_argument("--fanout", type=int, default=5000)
    parser.add_argument("--fanout-timeout-s", type=float, default=600.0)
    parser.add_argument("--eval-batches", type=int, default=10)
    parser.add_argument("--skip-eval", action="store_true", help="skip part 2 (its setup takes minutes)")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigie-bench-alerts-"))
    result: dict[str, Any] = {
        "bench": "bench-alerts",
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores",
        "stations": args.stations,
    }
    result.update(latency_part(args, work))
    if not args.skip_eval:
        cost = eval_cost([1000, 10000], args.eval_batches)
        result["eval_cpu_ms_per_batch_1k"] = cost["eval_cpu_ms_per_batch_1k"]
        result["eval_cpu_ms_per_batch_10k"] = cost["eval_cpu_ms_per_batch_10k"]
    result.update(fanout_part(args, work))
    result["logs"] = str(work)
    print(json.dumps(result))
    if not args.no_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
