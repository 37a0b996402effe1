"""Alert evaluation cost per ingest batch at 1,000 and 10,000 stations (a benchmark, not a test).

Setup per fleet size: a fresh migrated database, N stations (one per 10 km²), 24 h of 5-min
rollups and 1 h of raw readings per station, the seeded default rules (17 rules, every kind).
An "ingest batch" touches BATCH stations (2,000 readings/s flushed every 0.25 s = 500 readings);
the engine evaluates them exactly as after a NOTIFY. CPU = engine process CPU + the database
backend's CPU for the pass. Reference in the same run: the naive way, re-evaluating every
station of the fleet per batch.

Prints one JSON line; with --write, updates the alerts_eval section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg

from alerts.engine import Engine
from tests.support import create_database, db_url, drop_database
from vigie.migrate import migrate
from vigie.settings import AlertsSettings

COMMUNES = ["60043", "60119", "60147", "60150", "60368", "60373", "60378", "60392", "60423",
            "60492", "60501", "60537", "60582", "60636", "60642", "60654"]
BATCH = 500
SMALL = 10  # a quiet network: a few gauges per flush
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _copy(conn: psycopg.Connection[Any], table: str, cols: str, rows: list[tuple[Any, ...]]) -> None:
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in r) + "\n")
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        cp.write(buf.getvalue())


def setup(url: str, n: int, rng: random.Random) -> list[str]:
    """N stations with a day of rollups; a light rain on a quarter of them."""
    ids = [f"b-{i:05d}" for i in range(n)]
    # Constant density, one gauge per 10 km² (a dense regional network): the fleet's area grows
    # with its size, so each gauge keeps about the same number of neighbours.
    side_km = (n * 10.0) ** 0.5
    with psycopg.connect(url) as conn:
        _copy(conn, "stations", "id, name, commune_insee, lat, lon",
              [(s, f"Pluviomètre {s}", COMMUNES[i % 16], 49.0 + rng.random() * side_km / 111.0,
                2.0 + rng.random() * side_km / 72.8) for i, s in enumerate(ids)])
        buckets = [NOW - timedelta(minutes=5 * k) for k in range(1, 289)]
        raining = set(rng.sample(ids, n // 4))
        five: list[tuple[Any, ...]] = []
        hourly: dict[tuple[str, datetime], float] = {}
        raw: list[tuple[Any, ...]] = []
        for s in ids:
            for b in buckets:
                mm = round(rng.choice((0.2, 0.4, 0.6)), 1) if s in raining and rng.random() < 0.3 \
                    else 0.0
                five.append((s, b.isoformat(), mm, 1))
                h = b.replace(minute=0)
                hourly[(s, h)] = hourly.get((s, h), 0.0) + mm
                if b >= NOW - timedelta(hours=1):
                    raw.append((s, (b + timedelta(minutes=5)).isoformat(), 300, round(mm / 0.2),
                                mm, 3.9, (b + timedelta(minutes=5)).isoformat()))
        _copy(conn, "rain_5min", "station_id, bucket, mm, readings", five)
        _copy(conn, "rain_1h", "station_id, bucket, mm, readings",
              [(s, h.isoformat(), mm, 12) for (s, h), mm in hourly.items()])
        _copy(conn, "rain_readings",
              "station_id, ts, interval_s, tips, mm, battery_v, received_at", raw)
        _copy(conn, "device_status", "station_id, last_seen, last_ts, battery_v, clock_offset_s",
              # Seen over the last 5 minutes, as gauges reporting every 5 minutes are.
              [(s, (NOW - timedelta(seconds=i % 300)).isoformat(), NOW.isoformat(), 3.9, 0.5)
               for i, s in enumerate(ids)])
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    return ids


def measure(url: str, ids: list[str], rng: random.Random, batches: int) -> dict[str, float]:
    """CPU and wall time per batch (incremental) and per naive full pass."""
    eng = Engine(AlertsSettings())
    with psycopg.connect(url, autocommit=True) as conn:
        backend = psutil.Process(int(conn.execute("SELECT pg_backend_pid()").fetchone()[0]))  # type: ignore[index]
        eng.evaluate(conn, ids[:10], now=NOW)  # warm the metadata cache and the plans

        def one(stations: list[str]) -> tuple[float, float, int]:
            c0, b0, w0 = time.process_time(), sum(backend.cpu_times()[:2]), time.perf_counter()
            res = eng.evaluate(conn, stations, now=NOW)
            cpu = time.process_time() - c0 + sum(backend.cpu_times()[:2]) - b0
            return cpu * 1000, (time.perf_counter() - w0) * 1000, res.evaluated

        inc = [one(rng.sample(ids, BATCH)) for _ in range(batches)]
        small = [one(rng.sample(ids, SMALL)) for _ in range(batches)]
        full = [one(ids) for _ in range(2)]
        eng.evaluate(conn, now=NOW, sweep=True)  # the start-up catch-up: every station once
        s0, b0 = time.process_time(), sum(backend.cpu_times()[:2])
        sweeps = 3
        for _ in range(sweeps):
            eng.evaluate(conn, now=NOW, sweep=True)
        sweep_ms = (time.process_time() - s0 + sum(backend.cpu_times()[:2]) - b0) * 1000 / sweeps
    return {
        "cpu_ms": statistics.median(c for c, _, _ in inc),
        "wall_ms": statistics.median(w for _, w, _ in inc),
        "evaluations": statistics.median(e for _, _, e in inc),
        "small_cpu_ms": statistics.median(c for c, _, _ in small),
        "naive_cpu_ms": statistics.median(c for c, _, _ in full),
        "sweep_cpu_ms": sweep_ms,
        "naive_wall_ms": statistics.median(w for _, w, _ in full),
    }


def run(sizes: list[int], batches: int) -> dict[str, Any]:
    """Every fleet size in its own fresh database."""
    rng = random.Random(42)
    out: dict[str, Any] = {"bench": "alerts_eval", "batch_stations": BATCH}
    for n in sizes:
        name = create_database()
        try:
            url = db_url(name)
            migrate(url)
            t0 = time.perf_counter()
            ids = setup(url, n, rng)
            out[f"setup_s_{n}"] = round(time.perf_counter() - t0, 1)
            m = measure(url, ids, rng, batches)
        finally:
            drop_database(name)
        tag = f"{n // 1000}k"
        out[f"eval_cpu_ms_per_batch_{tag}"] = round(m["cpu_ms"], 1)
        out[f"eval_wall_ms_per_batch_{tag}"] = round(m["wall_ms"], 1)
        out[f"rule_evaluations_per_batch_{tag}"] = m["evaluations"]
        out[f"eval_cpu_ms_per_{SMALL}_station_batch_{tag}"] = round(m["small_cpu_ms"], 1)
        out[f"naive_full_pass_cpu_ms_{tag}"] = round(m["naive_cpu_ms"], 1)
        out[f"minute_sweep_cpu_ms_{tag}"] = round(m["sweep_cpu_ms"], 1)
        out[f"naive_full_pass_wall_ms_{tag}"] = round(m["naive_wall_ms"], 1)
    return out


def write_doc(result: dict[str, Any], path: Path) -> None:
    """Replace (or add) the alerts_eval section of docs/benchmarks.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head = "## alerts_eval"
    lines = [
        head, "",
        f"Machine: {platform.node()}, {psutil.cpu_count()} cores, Python "
        f"{platform.python_version()}; run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        "(`.venv/bin/python bench/alerts_eval.py --write`).",
        "",
        f"One ingest batch touches {BATCH} stations; the 17 seeded default rules are enabled. "
        "CPU = engine process + database backend, median per batch.",
        "",
        "| fleet | eval CPU / batch | wall / batch | CPU / 10-station batch |"
        " naive full pass CPU (every station) | minute sweep CPU |",
        "|---|---|---|---|---|---|",
    ]
    for tag in ("1k", "10k"):
        if f"eval_cpu_ms_per_batch_{tag}" in result:
            lines.append(
                f"| {tag} | {result[f'eval_cpu_ms_per_batch_{tag}']} ms | "
                f"{result[f'eval_wall_ms_per_batch_{tag}']} ms | "
                f"{result[f'eval_cpu_ms_per_{SMALL}_station_batch_{tag}']} ms | "
                f"{result[f'naive_full_pass_cpu_ms_{tag}']} ms | "
                f"{result[f'minute_sweep_cpu_ms_{tag}']} ms |"
            )
    lines += ["", "```json", json.dumps(result), "```", ""]
    section = "\n".join(lines)
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.batches)
    print(json.dumps(result))
    if args.write:
        write_doc(result, Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
