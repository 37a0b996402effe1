"""bench-api (issue 10 §5): the API's read paths on a year of 50 gauges, against the raw table.

Not a test. A real `vigie api` (uvicorn, its own process) serves a kept database of 26 M raw
readings (bench/api_data.py); a real `vigie ingest` and Mosquitto carry live readings. Parts:
  1. baseline: the three chart queries straight on the raw hypertable (psycopg), p99 each;
  2. open loop at 200 req/s over the three queries through the API, from a load generator in
     its own process (bench/api_load.py), then the rate stepped up until p99 passes 100 ms;
  3. a year's CSV export of one station: rows/s and the API's RSS growth (/proc/PID/status);
  4. SSE: 200 /api/v1/live clients, readings published over MQTT, publish -> last client.
Prints one JSON line and rewrites its block of the bench-api section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench import api_data
from bench.api_load import cpu_s, percentile
from vigie.broker import LocalBroker

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
API_PORT = int(os.environ.get("VIGIE_BENCH_API_PORT", "18940"))
BROKER_PORT = int(os.environ.get("VIGIE_BENCH_API_BROKER_PORT", "18941"))
QUERIES = ("all_stations_24h", "station_7d_hourly", "station_1y_daily")
TZ = "Europe/Paris"

# The same three questions asked of the raw hypertable, as a program without the rollups would.
BASELINE_SQL = {
    "all_stations_24h": """
        SELECT s.id, sum(r.mm) FILTER (WHERE r.ts > %(end)s::timestamptz - interval '1 hour'),
               sum(r.mm), count(r.mm)
        FROM stations s
        LEFT JOIN rain_readings r ON r.station_id = s.id
             AND r.ts > %(end)s::timestamptz - interval '24 hours' AND r.ts <= %(end)s
        WHERE s.active GROUP BY s.id ORDER BY s.id""",
    "station_7d_hourly": """
        SELECT time_bucket('1 hour', ts - interval '1 microsecond') AS b, sum(mm)
        FROM rain_readings
        WHERE station_id = %(sid)s AND ts > %(end)s::timestamptz - interval '7 days' AND ts <= %(end)s
        GROUP BY 1 ORDER BY 1""",
    "station_1y_daily": """
        SELECT date_trunc('day', ts - interval '1 microsecond', 'Europe/Paris') AS d, sum(mm)
        FROM rain_readings
        WHERE station_id = %(sid)s AND ts > %(end)s::timestamptz - interval '365 days' AND ts <= %(end)s
        GROUP BY 1 ORDER BY 1""",
}


def log(msg: str) -> None:
    print(f"[bench-api] {msg}", file=sys.stderr, flush=True)


def vigie(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "vigie.cli", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"vigie {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def admin_token(env: dict[str, str]) -> str:
    """A real admin API token, made by the CLI (the account is kept with the database)."""
    users = vigie(env, "users", "list")
    if "bench-admin" not in [line.split("\t")[0] for line in users.splitlines()]:
        password = f"banc-{random.SystemRandom().getrandbits(64):x}"
        vigie(
            env,
            "users",
            "create",
            "bench-admin",
            "--name",
            "Banc API",
            "--role",
            "admin",
            "--password-stdin",
            stdin=password + "\n",
        )
    return vigie(
        env,
        "tokens",
        "create",
        "--user",
        "bench-admin",
        "--name",
        "bench-api",
        "--role",
        "admin",
        "--days",
        "1",
    )


class Service:
    """A `vigie <name>` process with its log."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.env = name, env
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: str | None = None, timeout_s: float = 60) -> None:
        """Start it; with `ready`, wait until its log says so."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigie.cli", self.name],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + timeout_s
        while ready is not None and ready not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"vigie {self.name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_http(token: str, timeout_s: float = 60, port: int = API_PORT) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not answer")


def wait_idle(token: str, timeout_s: float = 120) -> float:
    """Wait until the API answers /api/v1/me in under 100 ms three times running (the requests a
    previous overloaded step left queued are drained); the seconds waited."""
    started = time.monotonic()
    fast = 0
    while fast < 3 and time.monotonic() - started < timeout_s:
        conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=timeout_s)
        t = time.perf_counter()
        conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        conn.getresponse().read()
        conn.close()
        fast = fast + 1 if time.perf_counter() - t < 0.1 else 0
        time.sleep(0.2)
    return round(time.monotonic() - started, 1)


def paths(ds: api_data.Dataset) -> dict[str, list[str]]:
    """The URLs of the three queries, at the end of the data (the kept database does not move)."""
    end = ds.end.isoformat().replace("+00:00", "Z")
    week = (ds.end - timedelta(days=7)).isoformat().replace("+00:00", "Z")
    year = (ds.end - timedelta(days=365)).isoformat().replace("+00:00", "Z")
    return {
        "all_stations_24h": [f"/api/v1/rain/recent?to={end}"],
        "station_7d_hourly": [
            f"/api/v1/stations/{s}/series?from={week}&to={end}&step=1h" for s in ds.stations
        ],
        "station_1y_daily": [
            f"/api/v1/stations/{s}/series?from={year}&to={end}&step=1d" for s in ds.stations
        ],
    }


def baseline(ds: api_data.Dataset, runs: dict[str, int]) -> dict[str, Any]:
    """Each query on the raw hypertable, stations drawn at random; p50/p99 in ms."""
    rng = random.Random(7)
    out: dict[str, Any] = {"p50_ms": {}, "p99_ms": {}, "runs": runs}
    with psycopg.connect(ds.url, autocommit=True) as conn:
        conn.execute(f"SET TimeZone = '{TZ}'")
        for name, query in BASELINE_SQL.items():
            times = []
            for _ in range(runs[name]):
                started = time.perf_counter()
                conn.execute(query, {"end": ds.end, "sid": rng.choice(ds.stations)}).fetchall()
                times.append(time.perf_counter() - started)
            out["p50_ms"][name] = round((percentile(times, 50) or 0) * 1000, 1)
            out["p99_ms"][name] = round((percentile(times, 99) or 0) * 1000, 1)
            log(f"baseline {name}: p50 {out['p50_ms'][name]} ms, p99 {out['p99_ms'][name]} ms")
    return out


def vm_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
    return fields


def sequential_cpu(token: str, pid: int, kinds: dict[str, list[str]], n: int = 200) -> dict[str, float]:
    """The API's own CPU ms per request of each kind, asked one at a time on one keep-alive
    connection: what a request costs the API, apart from any queueing (CPU time, so the other
    work of the machine does not count in it, except through shared caches)."""
    conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}

    def ask(path: str) -> None:
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {answer.status}")

    out: dict[str, float] = {}
    for kind, urls in sorted(kinds.items()):
        for i in range(20):  # warm: prepared statements, pool connections
            ask(urls[i % len(urls)])
        before = cpu_s(pid)
        for i in range(n):
            ask(urls[i % len(urls)])
        out[kind] = round((cpu_s(pid) - before) * 1000 / n, 2)
    conn.close()
    return out


def csv_export(ds: api_data.Dataset, token: str, pid: int) -> dict[str, Any]:
    """A year of one station as CSV through the API, read as it streams; the API's RSS sampled."""
    sid = ds.stations[0]
    start = (ds.end - timedelta(days=365)).isoformat().replace("+00:00", "Z")
    end = (ds.end + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    before = vm_kb(pid)
    peak = {"rss": before["VmRSS"]}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], vm_kb(pid)["VmRSS"])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=120)
    started, cpu_before = time.perf_counter(), cpu_s(pid)
    conn.request(
        "GET",
        f"/api/v1/stations/{sid}/export.csv?from={start}&to={end}",
        headers={"Authorization": f"Bearer {token}"},
    )
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"export.csv: HTTP {resp.status} {resp.read()[:300]!r}")
    lines, size, first_byte_s = 0, 0, None
    while chunk := resp.read(1 << 16):
        if first_byte_s is None:
            first_byte_s = time.perf_counter() - started
        lines += chunk.count(b"\n")
        size += len(chunk)
    elapsed = time.perf_counter() - started
    api_cpu = cpu_s(pid) - cpu_before
    done.set()
    sampler.join()
    after = vm_kb(pid)
    rows = lines - 1  # the header row
    with psycopg.connect(ds.url) as db:
        row = db.execute(
            "SELECT count(*) FROM rain_readings WHERE station_id = %s AND ts >= %s AND ts < %s",
            (sid, datetime.fromisoformat(start), datetime.fromisoformat(end)),
        ).fetchone()
    expected = int(row[0]) if row else -1
    return {
        "csv_rows": rows,
        "csv_rows_expected": expected,
        "csv_mb": round(size / 1e6, 1),
        "csv_seconds": round(elapsed, 2),
        "csv_first_byte_s": None if first_byte_s is None else round(first_byte_s, 3),
        "csv_rows_per_s": round(rows / elapsed),
        # What one free core would give: rows per second of the API's own CPU during the export.
        "csv_api_cpu_s": round(api_cpu, 2),
        "csv_rows_per_api_cpu_s": round(rows / api_cpu) if api_cpu > 0 else None,
        "csv_rss_before_mb": round(before["VmRSS"] / 1024, 1),
        "csv_rss_growth_mb": round((peak["rss"] - before["VmRSS"]) / 1024, 1),
        "csv_hwm_growth_mb": round((after["VmHWM"] - before["VmHWM"]) / 1024, 1),
    }


def load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator in its own process; its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.api_load", json.dumps(spec)],
        cwd=ROOT,
        capture_output=False,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reload", action="store_true", help="drop and load the bench database again")
    parser.add_argument("--steady-s", type=float, default=30.0, help="length of the 200 req/s run")
    parser.add_argument("--step-s", type=float, default=15.0, help="length of each higher-rate step")
    parser.add_argument("--rates", default="200,300,400,500,600,800,1000,1200,1600")
    parser.add_argument("--sse-clients", type=int, default=200)
    parser.add_argument("--sse-rounds", type=int, default=50)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()

    ds = api_data.ensure(reload=args.reload)
    log_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-api-"))
    broker_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-api-broker-"))
    broker_dir.chmod(0o755)
    broker = LocalBroker(broker_dir, BROKER_PORT, gateways=("vigie-simulator",))
    broker.start()
    base_env = {"VIGIE_DATABASE_URL": ds.url, "VIGIE_LOG_LEVEL": "INFO", "VIGIE_TIMEZONE": TZ}
    api = Service(
        "api",
        {**base_env, "VIGIE_MQTT_URL": broker.url("vigie-api"), "VIGIE_API__PORT": str(API_PORT)},
        log_dir,
    )
    ingest = Service(
        "ingest",
        {
            **base_env,
            "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
            "VIGIE_INGEST__CLIENT_ID": "bench-api-ingest",
            # The kept year must not age out between runs.
            "VIGIE_INGEST__RAW_RETENTION_DAYS": "3650",
        },
        log_dir,
    )
    result: dict[str, Any] = {
        "bench": "bench-api",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rows": ds.rows,
        "stations": len(ds.stations),
        "data_loaded_this_run": ds.loaded_now,
        "load_rows_per_s": None if ds.load_rows_per_s is None else round(ds.load_rows_per_s),
        "load_s": None if ds.load_s is None else round(ds.load_s),
        "load_average_start": load_average(),
    }
    try:
        token = admin_token(base_env)
        api.start()
        ingest.start("subscribed to")
        wait_http(token)
        assert api.proc is not None
        kinds = {**paths(ds), "me": ["/api/v1/me"]}
        result["api_cpu_ms_sequential"] = sequential_cpu(token, api.proc.pid, kinds)
        log(f"API CPU ms per request, one at a time: {result['api_cpu_ms_sequential']}")
        base = baseline(ds, {"all_stations_24h": 100, "station_7d_hourly": 200, "station_1y_daily": 20})
        rates = [float(r) for r in args.rates.split(",")]
        spec = {
            "host": "127.0.0.1",
            "port": API_PORT,
            "token": token,
            "paths": paths(ds),
            "rates": rates,
            "steady_s": args.steady_s,
            "step_s": args.step_s,
            "api_pid": api.proc.pid,
        }
        log(f"open loop at {rates[0]:.0f} req/s for {args.steady_s:.0f} s, then steps of {args.step_s:.0f} s")
        steps = load(spec)["steps"]
        result["load_average_after_http"] = load_average()
        log(f"drained in {wait_idle(token)} s; CSV export of a year")
        csv = csv_export(ds, token, api.proc.pid)
        log(
            f"CSV: {csv['csv_rows']:,} rows at {csv['csv_rows_per_s']:,} rows/s,"
            f" RSS +{csv['csv_rss_growth_mb']} MB"
        )
        wait_idle(token)
        sse = load(
            {
                "host": "127.0.0.1",
                "port": API_PORT,
                "token": token,
                "mqtt_url": broker.url("vigie-simulator"),
                "stations": ds.stations,
                "sse_clients": args.sse_clients,
                "sse_rounds": args.sse_rounds,
            }
        )["sse"]
        result["load_average_end"] = load_average()
    finally:
        ingest.stop()
        api.stop()
        broker.stop()

    steady = steps[0]
    passing = [
        s
        for s in steps
        if all(v is not None and v < 100 for v in s["p99_ms"].values())
        and s["achieved_rate_per_s"] >= 0.95 * s["offered_rate_per_s"]
    ]
    result.update(
        {
            "p99_ms": steady["p99_ms"],
            "p50_ms": steady["p50_ms"],
            "baseline_p99_ms": base["p99_ms"],
            "baseline_p50_ms": base["p50_ms"],
            "p99_ratio_baseline_over_api": {
                k: round(base["p99_ms"][k] / steady["p99_ms"][k], 2) if steady["p99_ms"][k] else None
                for k in QUERIES
            },
            "offered_rate_per_s": steady["offered_rate_per_s"],
            "achieved_rate_per_s": steady["achieved_rate_per_s"],
            "http_errors": steady["errors"],
            "api_cpu_ms_per_request": steady["api_cpu_ms_per_request"],
            "max_rate_p99_under_100ms": max((s["offered_rate_per_s"] for s in passing), default=None),
            "rate_steps": [
                {
                    k: s[k]
                    for k in (
                        "offered_rate_per_s",
                        "achieved_rate_per_s",
                        "p99_ms",
                        "errors",
                        "send_lag_p99_ms",
                    )
                }
                for s in steps
            ],
            **csv,
            **sse,
            "logs": str(log_dir),
        }
    )
    result["targets_met"] = {
        "p99_ms_le_50": {
            k: bool(steady["p99_ms"][k] is not None and steady["p99_ms"][k] <= 50) for k in QUERIES
        },
        "achieved_rate_ge_95pct_of_offered": steady["achieved_rate_per_s"]
        >= 0.95 * steady["offered_rate_per_s"],
        "csv_rows_per_s_ge_100000": csv["csv_rows_per_s"] >= 100_000,
        "csv_rss_growth_mb_le_50": csv["csv_rss_growth_mb"] <= 50,
        "csv_rows_complete": csv["csv_rows"] == csv["csv_rows_expected"],
        "sse_fanout_p99_s_le_1": sse["sse_fanout_p99_s"] is not None and sse["sse_fanout_p99_s"] <= 1.0,
        "sse_all_rounds_complete": sse["sse_incomplete_rounds"] == 0,
    }
    print(json.dumps(result))
    if not args.no_docs:
        write_docs(result)


BEGIN, END = "<!-- bench-api:begin (written by bench/api.py) -->", "<!-- bench-api:end -->"


def write_docs(result: dict[str, Any]) -> None:
    """Replace the generated block of the bench-api section (the notes around it are kept)."""
    met = result["targets_met"]
    yes = {True: "yes", False: "**no**"}
    lines = [
        BEGIN,
        "",
        f"Last run: `make bench-api`, {result['date']}, {result['machine']} shared with other work "
        f"(load average {result['load_average_start']} at the start, {result['load_average_end']} at the "
        f"end). {result['rows']:,} raw readings of {result['stations']} stations"
        + (
            f", loaded this run with COPY at {result['load_rows_per_s']:,} rows/s ({result['load_s']} s with "
            "the rollups)."
            if result["data_loaded_this_run"]
            else " (kept from an earlier run)."
        ),
        "",
        "| query | API p50 | API p99 | raw table p99 (baseline) | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for k in QUERIES:
        lines.append(
            f"| `{k}` | {result['p50_ms'][k]} ms | {result['p99_ms'][k]} ms | "
            f"{result['baseline_p99_ms'][k]} ms "
            f"| p99 <= 50 ms | {yes[met['p99_ms_le_50'][k]]} |"
        )
    lines += [
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
        f"| offered / achieved rate (mixed, open loop) | {result['offered_rate_per_s']:.0f} / "
        f"{result['achieved_rate_per_s']} req/s | achieved >= 95 % | "
        f"{yes[met['achieved_rate_ge_95pct_of_offered']]} |",
        f"| API CPU per answered request, 200 req/s run | {result.get('api_cpu_ms_per_request')} ms |"
        " (1000 / it = req/s on one free core) | |",
        "| API CPU per request, one at a time | "
        + ", ".join(f"`{k}` {v} ms" for k, v in result["api_cpu_ms_sequential"].items())
        + " | (report) | |",
        f"| highest steady rate, every p99 < 100 ms | {result['max_rate_p99_under_100ms'] or 'none'} req/s"
        " | (report) | |",
        f"| CSV export, a year of one station | {result['csv_rows']:,} rows, {result['csv_mb']} MB in "
        f"{result['csv_seconds']} s: {result['csv_rows_per_s']:,} rows/s | >= 100,000 rows/s | "
        f"{yes[met['csv_rows_per_s_ge_100000']]} |",
        f"| API RSS growth during the export | {result['csv_rss_growth_mb']} MB (VmHWM "
        f"+{result['csv_hwm_growth_mb']} MB) | <= 50 MB | {yes[met['csv_rss_growth_mb_le_50']]} |",
        f"| SSE publish -> last of {result['sse_clients']} clients, p50 / p99 / max over "
        f"{result['sse_rounds']} readings | {result['sse_fanout_p50_s']} / {result['sse_fanout_p99_s']} / "
        f"{result['sse_fanout_max_s']} s | p99 <= 1 s | {yes[met['sse_fanout_p99_s_le_1']]} |",
        "",
        "Rate steps (offered -> achieved, p99 per query in ms):",
        "",
    ]
    for s in result["rate_steps"]:
        lines.append(
            f"- {s['offered_rate_per_s']:.0f} -> {s['achieved_rate_per_s']} req/s: "
            + ", ".join(f"{k} {v}" for k, v in s["p99_ms"].items())
            + (f"; errors {s['errors']}" if any(s["errors"].values()) else "")
        )
    lines += ["", "```json", json.dumps(result), "```", "", END]
    replace_block(DOCS, BEGIN, END, "\n".join(lines), "bench-api")


def replace_block(docs: Path, begin: str, end: str, block: str, heading: str) -> None:
    """Put `block` (which starts with `begin` and ends with `end`) in place of the generated block
    between those markers, keeping the notes around it; a new section `heading` if there is none."""
    text = docs.read_text()
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
    docs.write_text(text)


if __name__ == "__main__":
    main()
