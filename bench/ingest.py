"""bench-ingest: how fast ingest stores single-reading QoS 1 messages, against its ceilings.

Not a test. Parts (issue 2, section 8):
  1. backlog drain: ingest vs a subscriber that only counts, on the same broker backlog;
  2. live: publisher at full speed while ingest runs; final lag;
  3. store-and-forward batches of 100 readings per message;
  4. references: raw COPY of the same rows, and a naive one-INSERT-per-message consumer.
Prints one JSON line and rewrites the bench-ingest section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg

from vigie.broker import LocalBroker
from vigie.migrate import migrate
from vigie.mqtt import connect_client, make_client, parse_mqtt_url

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("VIGIE_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
# Fixed per run and passed to the publisher processes, so every process agrees on it.
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=30)


def stations(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(n)]


def payloads(
    base: datetime, n_stations: int, per_station: int, part: int, batch: int
) -> list[tuple[str, str]]:
    """Messages of one part: readings of every station, minute by minute; part offsets the time."""
    start = base + timedelta(days=part * 3)
    out: list[tuple[str, str]] = []
    for i in range(per_station):
        ts = start + timedelta(minutes=i)
        for sid in stations(n_stations):
            out.append((sid, json.dumps({"seq": i, "ts": ts.isoformat(), "tips": i % 3, "interval_s": 60})))
    if batch <= 1:
        return [(f"vigie/v1/gauges/{sid}/up", body) for sid, body in out]
    grouped: dict[str, list[str]] = {}
    for sid, body in out:
        grouped.setdefault(sid, []).append(body)
    msgs = []
    for sid, bodies in grouped.items():
        for k in range(0, len(bodies), batch):
            msgs.append(
                (f"vigie/v1/gauges/{sid}/up", '{"readings": [' + ",".join(bodies[k : k + batch]) + "]}")
            )
    return msgs


def publisher_proc(
    url: str, base: datetime, n_stations: int, per_station: int, part: int, batch: int, out: Any
) -> None:
    """Publish a part as fast as paho allows, never more than 60,000 unacknowledged (ids wrap).

    It runs at a lower CPU priority (nice 10): in the field the gauges are other machines, so the
    simulated fleet must not take the CPU that the system under test would have.
    """
    os.nice(10)
    msgs = payloads(base, n_stations, per_station, part, batch)
    address = parse_mqtt_url(url)
    client = make_client(address, f"bench-pub-{uuid.uuid4().hex[:6]}")
    # 0 = no paho-side limit: with a limit, paho rescans every queued message on each PUBACK
    # (quadratic); the semaphore below keeps us under the 65,535 message ids instead.
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    acked = threading.Semaphore(0)
    client.on_publish = lambda *_a: acked.release()
    connect_client(client, address)
    client.loop_start()
    window = 20_000
    started = time.monotonic()
    started_at = time.time()  # wall clock: compared with the coordinator's
    for i, (topic, body) in enumerate(msgs):
        if i >= window:
            acked.acquire()
        client.publish(topic, body, qos=1)
    for _ in range(min(window, len(msgs))):
        acked.acquire()
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    out.put({"messages": len(msgs), "seconds": elapsed, "started_at": started_at, "done_at": time.time()})


def counting_proc(url: str, client_id: str, expected: int, register_only: bool, out: Any) -> None:
    """A subscriber that only counts (manual QoS 1 acks), on its own persistent session."""
    address = parse_mqtt_url(url)
    client = make_client(address, client_id, manual_ack=True)
    state = {"n": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now
        c.ack(msg.mid, msg.qos)
        if state["n"] >= expected:
            done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe("vigie/v1/gauges/+/up", qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    connect_client(client, address, session_expiry_s=3600, receive_maximum=20_000)
    client.loop_start()
    subscribed.wait(10)
    if not register_only:
        done.wait(600)
    client.disconnect()
    client.loop_stop()
    span = state["last"] - state["first"]
    out.put({"count": state["n"], "seconds": span, "rate": state["n"] / span if span > 0 else 0.0})


def naive_proc(url: str, db_url: str, expected: int, out: Any) -> None:
    """The naive consumer: one autocommit INSERT per message, ack after it."""
    address = parse_mqtt_url(url)
    client = make_client(address, f"bench-naive-{uuid.uuid4().hex[:6]}", manual_ack=True)
    conn = psycopg.connect(db_url, autocommit=True)
    state = {"n": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        sid = msg.topic.split("/")[3]
        conn.execute(
            "INSERT INTO bench.naive_readings (station_id, ts, interval_s, seq, tips, received_at)"
            " VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING",
            (sid, doc["ts"], doc["interval_s"], doc["seq"], doc["tips"]),
        )
        c.ack(msg.mid, msg.qos)
        now = time.monotonic()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now
        if state["n"] >= expected:
            done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe("vigie/v1/gauges/+/up", qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    connect_client(client, address, receive_maximum=1000)
    client.loop_start()
    subscribed.wait(10)
    out.put({"ready": True})
    done.wait(900)
    client.disconnect()
    client.loop_stop()
    span = state["last"] - state["first"]
    out.put({"count": state["n"], "rate": state["n"] / span if span > 0 else 0.0})


class Ingest:
    """`vigie ingest` as a subprocess, with its peak RSS sampled."""

    def __init__(self, env: dict[str, str], log: Path, processes: int = 1) -> None:
        self.env, self.log, self.processes = env, log, processes
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self._sampling = threading.Event()

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigie.cli", "ingest"],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while self.log.read_text().count("subscribed to") < self.processes:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.05)
        self._sampling.clear()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        assert self.proc is not None
        ps = psutil.Process(self.proc.pid)
        while not self._sampling.is_set():
            # The whole tree: with ingest.processes > 1, a supervisor and its workers.
            try:
                tree = [ps, *ps.children(recursive=True)]
            except psutil.Error:
                return  # the supervisor is gone
            total = 0
            for proc in tree:
                with contextlib.suppress(psutil.Error):  # a worker exiting under our feet
                    total += proc.memory_info().rss
            self.peak_rss = max(self.peak_rss, total)
            time.sleep(0.1)

    def stop(self) -> None:
        self._sampling.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


def count_part(conn: psycopg.Connection[Any], part: int, table: str = "rain_readings") -> int:
    start = BASE + timedelta(days=part * 3)
    row = conn.execute(
        f"SELECT count(*) FROM {table} WHERE ts >= %s AND ts < %s",  # noqa: S608  # fixed table names
        (start, start + timedelta(days=3)),
    ).fetchone()
    return int(row[0]) if row else 0


def stored_counter(conn: psycopg.Connection[Any]) -> int:
    """Readings ingest has stored so far, by its own counter (committed with each batch)."""
    row = conn.execute(
        "SELECT coalesce(sum((counters->>'stored')::bigint), 0) FROM ingest_metrics"
    ).fetchone()
    return int(row[0]) if row else 0


def wait_count(
    conn: psycopg.Connection[Any], part: int, expected: int, timeout: float, baseline: int
) -> tuple[float, float]:
    """Poll until ingest has stored `expected` more rows; return wall-clock times of the first and last.

    Polling reads ingest's `stored` counter, a one-row read committed in the same transaction as
    the readings, so it turns visible exactly when they do. Counting the part itself every 20 ms
    would cost ~20 ms of database CPU per poll at 200,000 rows, half a core taken from the system
    under test. The part is counted in the table once at the end, and that count (not the
    counter) gives stored, lost and duplicated.
    """
    first = 0.0
    deadline = time.time() + timeout
    while True:
        n = stored_counter(conn) - baseline
        now = time.time()
        if n and not first:
            first = now
        if n >= expected or now > deadline:
            if n < expected:
                print(f"part {part}: only {n} of {expected} stored after {timeout} s", file=sys.stderr)
            return first, now
        time.sleep(0.02)


def rollup_excess(conn: psycopg.Connection[Any]) -> int:
    """Readings the 5-min rollup counts beyond the stored rows (a double count if > 0)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(sum(readings), 0) FROM rain_5min) - (SELECT count(*) FROM rain_readings)"
    ).fetchone()
    return int(row[0]) if row else 0


def raw_copy(db_url: str, n_stations: int, per_station: int) -> float:
    """The database's ceiling: COPY the same rows in batches of 5,000 into a keyed hypertable."""
    rows = [
        (sid, BASE + timedelta(minutes=i), 60, i, i % 3, datetime.now(UTC))
        for i in range(per_station)
        for sid in stations(n_stations)
    ]
    with psycopg.connect(db_url) as conn:
        started = time.monotonic()
        for k in range(0, len(rows), 5000):
            with conn.cursor().copy(
                "COPY bench.copy_readings (station_id, ts, interval_s, seq, tips, received_at) FROM STDIN"
            ) as copy:
                for r in rows[k : k + 5000]:
                    copy.write_row(r)
            conn.commit()
        return len(rows) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--naive-readings", type=int, default=20_000)
    parser.add_argument(
        "--ingest-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="ingest.processes (default: one per core, as docs/mqtt.md advises for a big fleet)",
    )
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database to inspect it")
    args = parser.parse_args()
    per_station = args.readings // args.stations
    total = per_station * args.stations
    ctx = mp.get_context("spawn")

    db_name = f"vigie_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    db_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    migrate(db_url)
    broker_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-broker-"))
    broker_dir.chmod(0o755)
    broker = LocalBroker(broker_dir, 18899, gateways=("vigie-simulator",))
    broker.start()
    log_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    result: dict[str, Any] = {
        "bench": "ingest",
        "stations": args.stations,
        "ingest_processes": args.ingest_processes,
    }
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            with conn.cursor().copy("COPY stations (id, name, commune_insee, lat, lon) FROM STDIN") as copy:
                for sid in stations(args.stations):
                    copy.write_row((sid, sid, "60636", 49.47, 2.88))
            # The peers' tables live in their own schema: `vigie migrate`'s grants registry covers
            # every object of schema public, and ingest refuses to start on one it does not know.
            conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
            for table in ("bench.copy_readings", "bench.naive_readings"):
                conn.execute(f"CREATE TABLE {table} (LIKE rain_readings INCLUDING ALL)")
                conn.execute("SELECT create_hypertable(%s, by_range('ts', INTERVAL '1 day'))", (table,))
            env = {
                "VIGIE_DATABASE_URL": db_url,
                "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
                "VIGIE_INGEST__CLIENT_ID": "bench-ingest",
                "VIGIE_INGEST__PROCESSES": str(args.ingest_processes),
                "VIGIE_LOG_LEVEL": "INFO",
            }
            ingest = Ingest(env, log_dir / "ingest.log", args.ingest_processes)
            q = ctx.Queue()
            sim = broker.url("vigie-simulator")
            reader = broker.url("vigie-ingest")

            # 1. Backlog drain: register both sessions, stop them, publish, then drain each.
            ingest.start()
            ingest.stop()
            ingest.log.write_text("")
            p = ctx.Process(target=counting_proc, args=(reader, "bench-counter", total, True, q))
            p.start()
            p.join()
            q.get()
            p = ctx.Process(target=publisher_proc, args=(sim, BASE, args.stations, per_station, 0, 1, q))
            p.start()
            p.join()
            pub0 = q.get()
            p = ctx.Process(target=counting_proc, args=(reader, "bench-counter", total, False, q))
            p.start()
            p.join()
            counter = q.get()
            baseline = stored_counter(conn)
            ingest.start()
            first, last = wait_count(conn, 0, total, 600, baseline)
            drain_rate = total / (last - first) if last > first else 0.0
            stored0 = count_part(conn, 0)
            result.update(
                {
                    "published": pub0["messages"],
                    "backlog_publish_per_s": round(pub0["messages"] / pub0["seconds"]),
                    "drain_readings_per_s": round(drain_rate),
                    "counting_subscriber_drain_per_s": round(counter["rate"]),
                    "ratio_vs_counting_subscriber": round(drain_rate / counter["rate"], 3)
                    if counter["rate"]
                    else None,
                }
            )

            # 2. Live: publisher at full rate while ingest runs.
            baseline = stored_counter(conn)
            p = ctx.Process(target=publisher_proc, args=(sim, BASE, args.stations, per_station, 1, 1, q))
            p.start()
            p.join()
            pub1 = q.get()
            _f, last1 = wait_count(conn, 1, total, 300, baseline)
            stored1 = count_part(conn, 1)
            result.update(
                {
                    "live_publish_per_s": round(pub1["messages"] / pub1["seconds"]),
                    "live_ingest_per_s": round(stored1 / (last1 - pub1["started_at"])),
                    "live_final_lag_s": round(max(0.0, last1 - pub1["done_at"]), 3),
                }
            )

            # 3. Store-and-forward batches of 100 readings.
            baseline = stored_counter(conn)
            p = ctx.Process(target=publisher_proc, args=(sim, BASE, args.stations, per_station, 2, 100, q))
            p.start()
            _first2, last2 = wait_count(conn, 2, total, 300, baseline)
            p.join()
            pub2 = q.get()
            stored2 = count_part(conn, 2)
            result["batched_readings_per_s"] = round(stored2 / (last2 - pub2["started_at"]))
            ingest.stop()

            # 4. References: raw COPY and the naive consumer.
            result["copy_rows_per_s"] = round(raw_copy(db_url, args.stations, per_station))
            naive_n = args.naive_readings
            nq = ctx.Queue()
            n = ctx.Process(target=naive_proc, args=(reader, db_url, naive_n, nq))
            n.start()
            nq.get()
            p = ctx.Process(
                target=publisher_proc, args=(sim, BASE, args.stations, naive_n // args.stations, 3, 1, q)
            )
            p.start()
            p.join()
            q.get()
            n.join()
            naive = nq.get()
            result["naive_per_s"] = round(naive["rate"])
            result["ratio_vs_naive"] = (
                round(result["drain_readings_per_s"] / naive["rate"], 2) if naive["rate"] else None
            )

            stored = stored0 + stored1 + stored2
            published = 3 * total
            result.update(
                {
                    "published": published,
                    "stored": stored,
                    "lost": published - stored,
                    "duplicated": rollup_excess(conn),
                    "ingest_peak_rss_mb": round(ingest.peak_rss / 2**20, 1),
                    "machine": f"{platform.node()} {os.cpu_count()} cores",
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
    finally:
        broker.stop()
        if args.keep_db:
            print(f"kept database {db_name}", file=sys.stderr)
        else:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    print(json.dumps(result))
    if not args.no_docs:
        write_docs(result)


TARGETS = (
    ("drain_readings_per_s", ">=", 11_000),
    ("ratio_vs_counting_subscriber", ">=", 0.5),
    ("live_final_lag_s", "<=", 1.0),
    ("batched_readings_per_s", ">=", 50_000),
    ("ratio_vs_naive", ">=", 5),
    ("ingest_peak_rss_mb", "<=", 250),
    ("lost", "<=", 0),
    ("duplicated", "<=", 0),
)


def write_docs(result: dict[str, Any]) -> None:
    """Replace the bench-ingest section of docs/benchmarks.md with this run's figures."""
    lines = [
        "## bench-ingest",
        "",
        f"Run `make bench-ingest` on {result['machine']}, {result['date']}. Single-reading QoS 1"
        f" messages from {result['stations']} stations; {result['published']:,} readings published over"
        " three parts. The publisher runs at nice 10 so that the simulated fleet does not take the CPU"
        " of the system under test (in the field, gauges are other machines).",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    targets = {k: (op, v) for k, op, v in TARGETS}
    for key, value in result.items():
        if key in ("bench", "machine", "date", "stations"):
            continue
        op, target = targets.get(key, ("", None))
        met = (
            ""
            if target is None
            else ("yes" if (value >= target if op == ">=" else value <= target) else "**no**")
        )
        lines.append(f"| `{key}` | {value} | {'' if target is None else f'{op} {target}'} | {met} |")
    lines += ["", "```json", json.dumps(result), "```", ""]
    path = ROOT / "docs" / "benchmarks.md"
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nNot tests: figures measured by `make bench-*`.\n\n"
    )
    start = text.find("## bench-ingest")
    if start >= 0:
        end = text.find("\n## ", start + 5)
        text = text[:start] + "\n".join(lines) + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    path.write_text(text)


if __name__ == "__main__":
    main()
