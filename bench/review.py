"""bench-review (issue 11 §4): the naturalists' review on 100,000 events and 300,000 observations.

Not a test. A real `vigie api` (uvicorn, its own process) serves a kept database of 20 cameras
with real clip files (bench/review_data.py); the load comes from its own process
(bench/review_load.py). Parts:
  1. reference: the events list's SQL alone (api.queries.camera_events.page, no HTTP) for each
     gallery case, p50/p99;
  2. the gallery at a steady 50 req/s: the HTML page /revue and /api/v1/events, filtered by
     camera, species and date in a mix (below) -> gallery_p99_ms;
  3. clips at a steady 50 req/s, Range requests (a start, a middle, a suffix), time to the first
     byte of the body -> clip_first_byte_p99_ms;
  4. the Camtrap DP export of everything (media by URL), streamed to a file from a fresh API
     process, its RSS sampled and its VmHWM read -> camtrap_export_s, camtrap_export_peak_rss_mb;
     the zip then checked with the tests' own jsonschema and frictionless checks -> camtrap_valid.
Prints one JSON line and rewrites its block of the bench-review section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import psycopg

from api.queries import camera_events
from bench import review_data, review_people
from bench.api import Service, admin_token, load_average, replace_block, vigie, vm_kb, wait_http
from bench.api_load import percentile
from tests.camtrap_check import profile_errors, table_errors
from vigie.broker import LocalBroker

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
API_PORT = int(os.environ.get("VIGIE_BENCH_REVIEW_PORT", "18950"))
BROKER_PORT = int(os.environ.get("VIGIE_BENCH_REVIEW_BROKER_PORT", "18951"))
TZ = "Europe/Paris"
RANGE_BLOCK = 64 * 1024


def log(msg: str) -> None:
    print(f"[bench-review] {msg}", file=sys.stderr, flush=True)


def make_users(url: str) -> None:
    """The bench's two accounts, through the real CLI: an admin (whose token drives the load)
    and the naturalist who classified a third of the observations."""
    env = {"VIGIE_DATABASE_URL": url}
    admin_token(env)
    password = f"banc-{random.SystemRandom().getrandbits(64):x}"
    vigie(
        env, "users", "create", "banc-naturaliste", "--name", "Naturaliste de banc", "--role", "naturalist",
        "--password-stdin", stdin=password + "\n",
    )  # fmt: skip


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cases(ds: review_data.Dataset, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """The gallery's questions: kind -> a list of filter sets (one drawn per request).

    Dates are drawn in the period's last months, as a naturalist filters "since ..."."""
    sure = [c for c in ds.cameras if c not in ds.doubtful_cameras]
    every_species = sorted({s for names in ds.camera_species.values() for s in names})
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for _ in range(40):
        cam = rng.choice(ds.cameras)
        seen = ds.camera_species[cam]
        since = ds.end - timedelta(days=rng.randint(7, 120))
        out["camera_species_date"].append({"camera": cam, "species": rng.choice(seen), "from": since})
        never = rng.choice([s for s in every_species if s not in seen])
        out["camera_species_never"].append({"camera": cam, "species": never, "from": since})
        out["doubtful_camera_none"].append({"camera": rng.choice(sure), "doubtful": True})
        out["species"].append({"species": rng.choice(seen)})
        day = ds.end - timedelta(days=rng.randint(1, 300))
        out["date_range"].append({"from": day, "to": day + timedelta(days=7)})
        out["camera"].append({"camera": cam})
    return out


KINDS = (
    "camera_species_date",
    "camera_species_never",
    "doubtful_camera_none",
    "species",
    "date_range",
    "camera",
)
# Which kinds the HTML gallery is asked (its form has camera, species and dates, not doubt).
HTML_KINDS = ("camera_species_date", "camera_species_never", "species", "date_range", "camera")


def json_path(f: dict[str, Any]) -> str:
    q: dict[str, str] = {}
    for key in ("camera", "species"):
        if key in f:
            q[key] = f[key]
    for key in ("from", "to"):
        if key in f:
            q[key] = _iso(f[key])
    if f.get("doubtful"):
        q["doubtful"] = "true"
    return "/api/v1/events?" + urlencode(q)


def html_path(f: dict[str, Any]) -> str:
    tz = ZoneInfo(TZ)
    q: dict[str, str] = {}
    if "camera" in f:
        q["camera"] = f["camera"]
    if "species" in f:
        q["espece"] = f["species"]
    if "from" in f:
        q["du"] = f["from"].astimezone(tz).date().isoformat()
    if "to" in f:
        q["au"] = (f["to"] - timedelta(days=1)).astimezone(tz).date().isoformat()
    return "/revue?" + urlencode(q)


def gallery_paths(table: dict[str, list[dict[str, Any]]]) -> dict[str, list[list[Any]]]:
    paths: dict[str, list[list[Any]]] = {}
    for kind, filters in table.items():
        paths[f"json_{kind}"] = [[json_path(f), {}] for f in filters]
        if kind in HTML_KINDS:
            paths[f"html_{kind}"] = [[html_path(f), {}] for f in filters]
    return paths


def clip_paths(ds: review_data.Dataset, rng: random.Random, clip_bytes: int) -> dict[str, list[list[Any]]]:
    ids = [rng.randint(1, ds.events) for _ in range(300)]
    middle = max(0, clip_bytes // 2 - RANGE_BLOCK // 2)
    return {
        "range_start": [[f"/api/v1/events/{i}/clip", {"Range": f"bytes=0-{RANGE_BLOCK - 1}"}] for i in ids],
        "range_middle": [
            [f"/api/v1/events/{i}/clip", {"Range": f"bytes={middle}-{middle + RANGE_BLOCK - 1}"}] for i in ids
        ],
        "range_suffix": [[f"/api/v1/events/{i}/clip", {"Range": f"bytes=-{RANGE_BLOCK}"}] for i in ids],
    }


def sql_reference(
    ds: review_data.Dataset, table: dict[str, list[dict[str, Any]]], runs: int
) -> dict[str, Any]:
    """The list's SQL alone, as the API runs it (one page of 50, newest first), per kind."""

    async def run() -> dict[str, Any]:
        out: dict[str, Any] = {"p50_ms": {}, "p99_ms": {}, "runs": runs}
        async with await psycopg.AsyncConnection.connect(ds.url, autocommit=True) as conn:
            row = await (await conn.execute("SELECT id FROM users WHERE login = 'bench-admin'")).fetchone()
            me = int(row[0]) if row else 0
            for kind, filters in table.items():
                times = []
                for i in range(runs):
                    f = filters[i % len(filters)]
                    flt = camera_events.EventFilter(
                        cameras=(f["camera"],) if "camera" in f else (),
                        species=(f["species"],) if "species" in f else (),
                        start=f.get("from"),
                        end=f.get("to"),
                        doubtful=f.get("doubtful"),
                    )
                    t = time.perf_counter()
                    await camera_events.page(
                        conn, flt, me=me, sort="start", order="desc", limit=50, after=None
                    )
                    times.append(time.perf_counter() - t)
                out["p50_ms"][kind] = round((percentile(times, 50) or 0) * 1000, 1)
                out["p99_ms"][kind] = round((percentile(times, 99) or 0) * 1000, 1)
                log(f"SQL alone, {kind}: p50 {out['p50_ms'][kind]} ms, p99 {out['p99_ms'][kind]} ms")
        return out

    return asyncio.run(run())


def load(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the load generator in its own process; its phases' results."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.review_load", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    phases: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])["phases"]
    return phases


def export(token: str, pid: int, folder: Path) -> dict[str, Any]:
    """The whole Camtrap DP package, streamed to a file; the API's RSS sampled every 20 ms."""
    before = vm_kb(pid)
    peak = {"rss": before["VmRSS"]}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], vm_kb(pid)["VmRSS"])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    target = folder / "export.zip"
    conn = http.client.HTTPConnection("127.0.0.1", API_PORT, timeout=600)
    started = time.perf_counter()
    conn.request("GET", "/api/v1/camtrap-dp.zip?media=url", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    if resp.status != 200:
        done.set()
        raise RuntimeError(f"camtrap-dp.zip: HTTP {resp.status} {resp.read()[:300]!r}")
    first_byte_s = None
    chunks = 0
    with target.open("wb") as out:
        while chunk := resp.read(1 << 16):
            if first_byte_s is None:
                first_byte_s = time.perf_counter() - started
            chunks += 1
            out.write(chunk)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    after = vm_kb(pid)
    return {
        "camtrap_export_s": round(elapsed, 2),
        "camtrap_export_first_byte_s": None if first_byte_s is None else round(first_byte_s, 3),
        "camtrap_export_mb": round(target.stat().st_size / 1e6, 2),
        # The process is fresh (started for the export), so its high-water mark is the export's.
        "camtrap_export_peak_rss_mb": round(max(peak["rss"], after["VmHWM"]) / 1024, 1),
        "camtrap_export_rss_before_mb": round(before["VmRSS"] / 1024, 1),
        "camtrap_export_sampled_peak_rss_mb": round(peak["rss"] / 1024, 1),
        "zip": str(target),
    }


def validate(zip_path: Path, ds: review_data.Dataset) -> dict[str, Any]:
    """The tests' checks on the unpacked zip, and its row counts against the database."""
    folder = zip_path.parent / "unpacked"
    started = time.perf_counter()
    with zipfile.ZipFile(zip_path) as zf:
        bad = zf.testzip()
        zf.extractall(folder)
    descriptor = json.loads((folder / "datapackage.json").read_text())
    errors = ([f"zip: {bad}"] if bad else []) + profile_errors(descriptor) + table_errors(folder)
    counts = {}
    for name in ("deployments", "media", "observations"):
        with (folder / f"{name}.csv").open(encoding="utf-8") as f:
            counts[name] = sum(1 for _ in f) - 1
    with psycopg.connect(ds.url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM camera_events WHERE status <> 'false_positive' AND clip_path IS NOT NULL"
        ).fetchone()
    expected_media = int(row[0]) if row else -1
    return {
        "camtrap_valid": not errors and counts["media"] == expected_media,
        "camtrap_errors": errors[:10],
        "camtrap_rows": counts,
        "camtrap_media_expected": expected_media,
        "camtrap_validate_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reload", action="store_true", help="drop and load the bench database again")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--gallery-s", type=float, default=60.0)
    parser.add_argument("--clip-s", type=float, default=30.0)
    parser.add_argument("--sql-runs", type=int, default=100)
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--no-people", action="store_true", help="skip the people detector's figures")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    # Stopped with SIGTERM, it still stops the API and the broker it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    ds = review_data.ensure(make_users, reload=args.reload)
    rng = random.Random(5)
    table = cases(ds, rng)
    log_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-review-"))
    broker_dir = Path(tempfile.mkdtemp(prefix="vigie-bench-review-broker-"))
    broker_dir.chmod(0o755)
    broker = LocalBroker(broker_dir, BROKER_PORT)
    broker.start()
    env = {
        "VIGIE_DATABASE_URL": ds.url,
        "VIGIE_LOG_LEVEL": "WARNING",
        "VIGIE_TIMEZONE": TZ,
        "VIGIE_MQTT_URL": broker.url("vigie-api"),
        "VIGIE_API__PORT": str(API_PORT),
        "VIGIE_CAMERA__MEDIA_DIR": str(ds.media_dir),
        "VIGIE_PUBLIC_URL": f"http://127.0.0.1:{API_PORT}",
    }
    result: dict[str, Any] = {
        "bench": "bench-review",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "events": ds.events,
        "observations": ds.observations,
        "cameras": len(ds.cameras),
        "data_loaded_this_run": ds.loaded_now,
        "load_s": None if ds.load_s is None else round(ds.load_s),
        "load_average_start": load_average(),
    }
    api = Service("api", env, log_dir)
    try:
        token = admin_token({"VIGIE_DATABASE_URL": ds.url})
        result["sql_alone"] = sql_reference(ds, table, args.sql_runs)
        api.start()
        wait_http(token, port=API_PORT)
        assert api.proc is not None
        clip_bytes = (ds.media_dir / "_sources" / f"{ds.cameras[0]}.mp4").stat().st_size
        base = {"host": "127.0.0.1", "port": API_PORT, "token": token, "api_pid": api.proc.pid}
        gallery, clips = load(
            base
            | {
                "phases": [
                    {"name": "gallery", "rate": args.rate, "duration": args.gallery_s, "warmup_s": 5,
                     "paths": gallery_paths(table)},
                    {"name": "clips", "rate": args.rate, "duration": args.clip_s, "warmup_s": 3,
                     "paths": clip_paths(ds, rng, clip_bytes), "first_byte": True, "statuses": [206]},
                ]
            }
        )  # fmt: skip
        result["load_average_after_http"] = load_average()
        if api.proc.poll() is not None:
            raise RuntimeError(f"the API stopped during the load (exit {api.proc.returncode}); see {log_dir}")
        for ph in (gallery, clips):
            if ph["ok"] < ph["requests"] / 2:
                raise RuntimeError(f"{ph['name']}: {ph['ok']} of {ph['requests']} answered (errors above)")
        result.update(
            {
                "gallery_p99_ms": gallery["p99_ms"],
                "gallery_p50_ms": gallery["p50_ms"],
                "gallery_by_kind_p99_ms": gallery["by_kind_p99_ms"],
                "gallery_offered_rate_per_s": gallery["offered_rate_per_s"],
                "gallery_achieved_rate_per_s": gallery["achieved_rate_per_s"],
                "gallery_errors": sum(gallery["errors"].values()),
                "gallery_api_cpu_ms_per_request": gallery["api_cpu_ms_per_request"],
                "clip_first_byte_p99_ms": clips["p99_ms"],
                "clip_first_byte_p50_ms": clips["p50_ms"],
                "clip_achieved_rate_per_s": clips["achieved_rate_per_s"],
                "clip_errors": sum(clips["errors"].values()),
            }
        )
        if not args.no_export:
            # A fresh process, so that its high-water mark is the export's, not the load's.
            api.stop()
            api.start()
            wait_http(token, port=API_PORT)
            assert api.proc is not None
            with tempfile.TemporaryDirectory(prefix="vigie-bench-review-export-") as tmp:
                log("Camtrap DP export of everything (media by URL)")
                exp = export(token, api.proc.pid, Path(tmp))
                result["load_average_after_export"] = load_average()
                log(f"export: {exp['camtrap_export_mb']} MB in {exp['camtrap_export_s']} s, "
                    f"peak RSS {exp['camtrap_export_peak_rss_mb']} MB; validating")  # fmt: skip
                result.update({k: v for k, v in exp.items() if k != "zip"})
                result.update(validate(Path(exp["zip"]), ds))
        result["load_average_end"] = load_average()
    finally:
        api.stop()
        broker.stop()
    result["logs"] = str(log_dir)
    if not args.no_people:
        # The people proposal's figures (reported, no target): bench/review_people.py, after the
        # API has stopped, so that its CPU does not weigh on the HTTP figures.
        log("people detector on the simulator's walker and animal scenes")
        result.update({k: v for k, v in review_people.measure().items() if k != "load_average_1m"})
    result["targets_met"] = {
        "gallery_p99_ms_le_50": gallery["p99_ms"] is not None and gallery["p99_ms"] <= 50,
        "gallery_achieved_ge_95pct": gallery["achieved_rate_per_s"] >= 0.95 * args.rate,
        "clip_first_byte_p99_ms_le_100": clips["p99_ms"] is not None and clips["p99_ms"] <= 100,
    }
    if not args.no_export:
        peak_ok = result["camtrap_export_peak_rss_mb"] <= 200
        result["targets_met"]["camtrap_export_peak_rss_mb_le_200"] = peak_ok
        result["targets_met"]["camtrap_valid"] = result["camtrap_valid"]
    print(json.dumps(result))
    if not args.no_docs:
        write_docs(result)


BEGIN, END = "<!-- bench-review:begin (written by bench/review.py) -->", "<!-- bench-review:end -->"


def write_docs(result: dict[str, Any]) -> None:
    """Replace the generated block of the bench-review section (the notes around it are kept)."""
    met = result["targets_met"]
    yes = {True: "yes", False: "**no**"}
    r = result
    kept = " (kept from an earlier run)."
    if r["data_loaded_this_run"]:
        kept = f", loaded this run in {r['load_s']} s."
    lines = [
        BEGIN,
        "",
        f"Last run: `make bench-review`, {r['date']}, {r['machine']} shared with other work (load average"
        f" {r['load_average_start']} at the start, {r['load_average_end']} at the end). {r['events']:,}"
        f" events and {r['observations']:,} observations over {r['cameras']} cameras{kept}",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
        f"| gallery (HTML /revue and /api/v1/events, mixed filters), {r['gallery_offered_rate_per_s']:.0f}"
        f" req/s open loop: p50 / p99 | {r['gallery_p50_ms']} / {r['gallery_p99_ms']} ms"
        f" ({r['gallery_achieved_rate_per_s']} req/s achieved, {r['gallery_errors']} errors) | p99 <= 50 ms"
        f" | {yes[met['gallery_p99_ms_le_50']]} |",
        f"| clip Range request, first byte of the body: p50 / p99 | {r['clip_first_byte_p50_ms']} /"
        f" {r['clip_first_byte_p99_ms']} ms | p99 <= 100 ms | {yes[met['clip_first_byte_p99_ms_le_100']]} |",
    ]
    if "camtrap_export_s" in result:
        lines += [
            f"| Camtrap DP export of everything (media by URL), streamed | {r['camtrap_export_mb']} MB in"
            f" {r['camtrap_export_s']} s | (report) | |",
            f"| API peak RSS during the export (fresh process, VmHWM) | {r['camtrap_export_peak_rss_mb']} MB"
            f" (before: {r['camtrap_export_rss_before_mb']} MB) | <= 200 MB "
            f"| {yes[met['camtrap_export_peak_rss_mb_le_200']]} |",
            f"| export validates (jsonschema profile + frictionless tables), rows {result['camtrap_rows']} "
            f"| {result['camtrap_valid']} | true | {yes[met['camtrap_valid']]} |",
        ]  # fmt: skip
    if "person_recall" in result:
        lines += [
            f"| people proposal (bench/review_people.py): recall on walker scenes | {r['person_recall']}"
            " | (report) | |",
            f"| people proposal: false flags per hour of animal events | {r['person_false_flags_per_hour']}"
            " | (report) | |",
        ]
    lines += ["", "p99 by kind at the steady rate (ms):", ""]
    lines += [f"- {k}: {v}" for k, v in result["gallery_by_kind_p99_ms"].items()]
    lines += ["", "The list's SQL alone (no HTTP), p50 / p99 (ms):", ""]
    ref = result["sql_alone"]
    lines += [f"- {k}: {ref['p50_ms'][k]} / {ref['p99_ms'][k]}" for k in ref["p50_ms"]]
    lines += ["", "```json", json.dumps(result), "```", "", END]
    replace_block(DOCS, BEGIN, END, "\n".join(lines), "bench-review")


if __name__ == "__main__":
    main()
