"""The alerts process's memory per delivery, in minutes instead of make soak's hour (issue 14 §2).

Not a test. Runs a real alerts process (fresh database, the project's broker configuration,
the local SMTP and SMS stand-ins of simulators.sinks, one subscriber per commune with an e-mail
and an SMS channel, as bench/soak.py) and feeds it incidents directly (an 'opened' orange change
per incident, one commune each: two immediate deliveries, no grouping), keeping at most
ALERTS_MEM_BACKLOG deliveries pending. Every ALERTS_MEM_EVERY accepted deliveries it samples the
child's RSS and /proc/<pid>/smaps by category (main heap, anonymous maps, thread stacks, files),
then prints one JSON line.

ALERTS_MEM_MODE chooses what runs in the child, to bisect:
  service   `vigie alerts` itself (engine, sweep, CAP, exercises, notifier)
  notifier  the Dispatcher alone (alerts.dispatch), real composition and real sends
  nosend    the Dispatcher, real composition, the send replaced by "accepted"
  nocompose the Dispatcher, real sends of a fixed text, no composition
  bare      the Dispatcher, neither composition nor send (claim and record only)
  engine    `vigie alerts` itself, fed readings instead of incidents (below)
ALERTS_MEM_N (deliveries, default 3000), ALERTS_MEM_WORKERS (alerts.workers, default 16).

ALERTS_MEM_MODE=engine drives the engine as make soak does, in minutes: ALERTS_MEM_STATIONS
gauges (default 500, registered as the simulator does) report every 10 s of wall time, their
readings parsed and written by ingest's own code (ingest.parse, ingest.writer: the stage, the
rollups, device_status and the NOTIFY that wakes the engine), one batch per commune. A new
Chicago storm (50-year, 15 min, each gauge its own share of it) starts over half the fleet every
ALERTS_MEM_STORM_EVERY_MIN minutes (default 5; 0: none, dry readings only), the halves in
turn, so incidents open, escalate and the deliveries go out while the engine's passes run over
the whole fleet. It samples every
ALERTS_MEM_SAMPLE_S (60) for ALERTS_MEM_MINUTES (10) and prints the slope of RSS after the first
quarter. ALERTS_MEM_CHILD=engineonly runs only the engine's listener and sweep in the child
(no notifier, CAP, exercises), to bisect.

    nice -n 19 .venv/bin/python -m bench.alerts_memory
    ALERTS_MEM_MODE=engine nice -n 19 .venv/bin/python -m bench.alerts_memory
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.sandbox import proc_rss_fds, sandbox
from tests.support import wait_for
from vigie import notify

ROOT = Path(__file__).resolve().parents[1]
MODES = ("service", "notifier", "nosend", "nocompose", "bare", "engine")


def smaps(pid: int) -> dict[str, float]:
    """Resident MiB of the process's maps by category."""
    out = {"heap": 0.0, "anon": 0.0, "stack": 0.0, "files": 0.0, "other": 0.0}
    name = ""
    try:
        with open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace") as f:
            for line in f:
                first = line.split(maxsplit=6)
                if first and "-" in first[0] and len(first) >= 5 and not first[0].endswith(":"):
                    name = first[5].strip() if len(first) > 5 else ""
                elif first and first[0] == "Rss:":
                    kb = int(first[1]) / 1024
                    if name == "[heap]":
                        out["heap"] += kb
                    elif name == "":
                        out["anon"] += kb
                    elif name.startswith("[stack"):
                        out["stack"] += kb
                    elif name.startswith("/"):
                        out["files"] += kb
                    else:
                        out["other"] += kb
    except OSError:
        pass
    return {k: round(v, 1) for k, v in out.items()}


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def child_engine() -> None:
    """In the child: the engine's listener and minute sweep alone, as AlertsService runs them."""
    from alerts.engine import Engine
    from alerts.service import ReadingsListener, Sweeper
    from vigie.logs import setup_logging_from
    from vigie.malloc import limit_arenas
    from vigie.service_secrets import for_service
    from vigie.settings import Settings

    limit_arenas(2)  # as `vigie alerts`
    settings = Settings()
    setup_logging_from(settings)
    settings = for_service(settings, "alerts")
    url, cfg = settings.database_url.get_secret_value(), settings.alerts
    engine = Engine(cfg)
    listener = ReadingsListener(url, engine, cfg.listen_idle_s, cfg.dry_delay_s)
    sweeper = Sweeper(url, engine, cfg.sweep_interval_s)
    signal.signal(signal.SIGTERM, lambda *_: listener.stop())
    sweeper.start()
    print("child ready", flush=True)
    listener.run()
    sweeper.stop()


def child(mode: str) -> None:
    """In the child: the Dispatcher alone, with parts switched off (see the module's doc)."""
    if mode == "engineonly":
        child_engine()
        return
    from alerts import dispatch
    from alerts.channels import Outcome, SendResult
    from vigie.malloc import limit_arenas
    from vigie.service_secrets import for_service
    from vigie.settings import Settings

    limit_arenas(2)  # as `vigie alerts`
    settings = for_service(Settings(), "alerts")
    d = dispatch.Dispatcher(settings)
    if mode in ("nosend", "bare"):
        d.sender.send = lambda *a, **k: SendResult(Outcome.ACCEPTED, "accepté (banc)")  # type: ignore[method-assign]
    if mode in ("nocompose", "bare"):
        def plan(conn: Any, g: dispatch.Group, s: Any, public_url: str) -> dispatch.Plan:
            row = conn.execute(
                "SELECT channels FROM subscribers WHERE id = %s", (g.subscriber_id,)
            ).fetchone()
            ch = row[0][g.channel_index]
            text = "Texte fixe du banc."
            return dispatch.Plan(ch["kind"], ch["url"], "Vigie : alerte", text, None, ["alert"])
        dispatch.build_plan = plan
    signal.signal(signal.SIGTERM, lambda *_: d.stop())
    print("child ready", flush=True)
    d.run()


def storm_tips(storms: list[tuple[Any, list[float]]], i: int, t0: datetime, t1: datetime,
               tip_mm: float, carry: list[float]) -> int:
    """Station i's tips between t0 and t1 under the storms (its share of each), the rest carried."""
    from simulators.gauges.hyetograph import depth_between

    mm = carry[i] + sum(depth_between(st, t0, t1) * share[i] for st, share in storms)
    tips = int(mm / tip_mm)
    carry[i] = mm - tips * tip_mm
    return tips


def run_engine(box: Any, env: dict[str, str], work: Path) -> None:
    """ALERTS_MEM_MODE=engine (see the module's doc): a storm fed through ingest's own writer."""
    import random
    from collections import defaultdict
    from datetime import timedelta

    from ingest.parse import parse_message
    from ingest.writer import prepare, write_batch
    from simulators.gauges.fleet import make_fleet, register
    from simulators.gauges.hyetograph import ChicagoStorm, montana_for
    from vigie.settings import Settings

    n_stations = int(os.environ.get("ALERTS_MEM_STATIONS", "500"))
    minutes = float(os.environ.get("ALERTS_MEM_MINUTES", "10"))
    sample_s = float(os.environ.get("ALERTS_MEM_SAMPLE_S", "60"))
    storm_every = timedelta(minutes=float(os.environ.get("ALERTS_MEM_STORM_EVERY_MIN", "5")))
    child_kind = os.environ.get("ALERTS_MEM_CHILD", "service")
    interval_s, tip_mm = 10, 0.2
    settings = Settings()
    cfg, root = settings.ingest, settings.topic_root
    box.add_mairies()
    fleet = make_fleet(n_stations, seed=14, interval_s=interval_s, tip_mm=tip_mm, prefix="mem-")
    by_commune: dict[str, list[int]] = defaultdict(list)
    for i, st in enumerate(fleet):
        by_commune[st.commune.insee].append(i)
    rng = random.Random(14)
    montana = montana_for(50)
    storms: list[tuple[Any, list[float]]] = []
    carry = [0.0] * n_stations
    seq = [0] * n_stations
    proc: subprocess.Popen[bytes] | None = None
    with psycopg.connect(box.url) as conn:
        register(conn, fleet)
        # ALERTS_MEM_RULES_OFF=intensity,...: those kinds of rule disabled, to bisect.
        off = [k for k in os.environ.get("ALERTS_MEM_RULES_OFF", "").split(",") if k]
        conn.execute("UPDATE rules SET enabled = false WHERE kind = ANY(%s)", (off,))
        conn.commit()
        prepare(conn)
        cmd = ([sys.executable, "-m", "vigie.cli", "alerts"] if child_kind == "service"
               else [sys.executable, "-m", "bench.alerts_memory", "child", child_kind])
        log = open(work / "child.log", "wb")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        box.exits.callback(stop_child, proc)
        wait_for(lambda: b"ready" in (work / "child.log").read_bytes(), timeout=120, interval=0.2)
        time.sleep(3)
        samples: list[dict[str, Any]] = []
        t0 = time.monotonic()
        start = datetime.now(UTC).replace(microsecond=0)
        tick = start - timedelta(seconds=start.second % interval_s)
        next_storm, half, next_sample = start, 0, t0

        def counts() -> dict[str, int]:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM incident_changes),"
                " (SELECT count(*) FROM deliveries WHERE state = 'accepted'),"
                " (SELECT count(*) FROM rain_readings),"
                # The raw rows the intensity rule's pass reads (60 min, wet gauges): issue 14.
                " (SELECT count(*) FROM rain_readings WHERE mm IS NOT NULL"
                "   AND ts > now() - interval '60 minutes' AND station_id IN (SELECT station_id"
                "   FROM rain_5min WHERE bucket > now() - interval '65 minutes' AND mm > 0))"
            ).fetchone()
            conn.commit()
            assert row is not None
            keys = ("incidents", "changes", "accepted", "readings", "lookback_rows")
            return dict(zip(keys, map(int, row), strict=True))

        while True:
            if proc.poll() is not None:
                raise SystemExit(f"child exited {proc.returncode}: see {work / 'child.log'}")
            if time.monotonic() >= next_sample:
                rss_mib = round(proc_rss_fds(proc.pid)[0] / 2**20, 1)
                samples.append({"t_s": round(time.monotonic() - t0, 1), "rss_mib": rss_mib,
                                "threads": threads(proc.pid), **smaps(proc.pid), **counts()})
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
                next_sample += sample_s
                box.smtp.clear()
                box.sms.clear()
                if next_sample - t0 > minutes * 60 + 0.5:
                    break
            nxt = tick + timedelta(seconds=interval_s)
            wait = (nxt - datetime.now(UTC)).total_seconds()
            if wait > 0:
                time.sleep(min(wait, 1.0))
                continue
            if storm_every and nxt >= next_storm:
                share = [rng.uniform(0.6, 1.4) if i % 2 == half else 0.0 for i in range(n_stations)]
                storms.append((ChicagoStorm(next_storm, timedelta(minutes=15), montana), share))
                next_storm, half = next_storm + storm_every, 1 - half
            storms = [(st, sh) for st, sh in storms if st.start + st.duration > tick]
            received = datetime.now(UTC)
            for members in by_commune.values():
                parsed = []
                for i in members:
                    seq[i] += 1
                    tips = storm_tips(storms, i, tick, nxt, tip_mm, carry)
                    body = json.dumps({"seq": seq[i], "ts": nxt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                       "tips": tips, "interval_s": interval_s}).encode()
                    parsed.append(parse_message(f"{root}/gauges/{fleet[i].id}/up", body,
                                                received, cfg, root))
                write_batch(conn, parsed, "almem", cfg.max_rate_mm_h)
            tick = nxt
        first = samples[len(samples) // 4]
        last = samples[-1]
        span_min = max(1e-9, (last["t_s"] - first["t_s"]) / 60)
        print(json.dumps({
            "bench": "alerts_memory", "machine": platform.node(), "mode": "engine",
            "child": child_kind, "stations": n_stations, "rules_off": off,
            "storm_every_min": storm_every.total_seconds() / 60,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "load": Path("/proc/loadavg").read_text().split()[:3],
            "duration_s": last["t_s"], **counts(),
            "rss_first_quarter_mib": first["rss_mib"], "rss_end_mib": last["rss_mib"],
            "mib_per_min_after_first_quarter": round((last["rss_mib"] - first["rss_mib"]) / span_min, 3),
            "growth_pct_after_first_quarter": round(
                100 * (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"], 2),
            "samples": samples,
        }))


def stop_child(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    mode = os.environ.get("ALERTS_MEM_MODE", "service")
    if mode not in MODES:
        raise SystemExit(f"ALERTS_MEM_MODE: one of {', '.join(MODES)}")
    n_target = int(os.environ.get("ALERTS_MEM_N", "3000"))
    every = int(os.environ.get("ALERTS_MEM_EVERY", "500"))
    backlog = int(os.environ.get("ALERTS_MEM_BACKLOG", "40"))
    workers = os.environ.get("ALERTS_MEM_WORKERS", "16")
    # A pause after each batch of 5 incidents: longer than alerts.notifier_idle_s, the
    # notifier's pool closes its idle connections and opens new ones for the next batch.
    pause_s = float(os.environ.get("ALERTS_MEM_PAUSE_S", "0"))
    proc: subprocess.Popen[bytes] | None = None

    def stop_child_if_started() -> None:
        if proc is not None:
            stop_child(proc)

    with sandbox("almem") as box:
        if mode == "engine":
            env = {**os.environ, **box.env(), "VIGIE_ALERTS__WORKERS": workers, "VIGIE_LOG_LEVEL": "INFO"}
            run_engine(box, env, box.work)
            return
        box.exits.callback(stop_child_if_started)
        work, smtp, sms = box.work, box.smtp, box.sms
        env = {**os.environ, **box.env(), "VIGIE_ALERTS__WORKERS": workers, "VIGIE_LOG_LEVEL": "INFO"}
        communes = box.add_mairies()
        with psycopg.connect(box.url, autocommit=True) as conn:
            cmd = ([sys.executable, "-m", "vigie.cli", "alerts"] if mode == "service"
                   else [sys.executable, "-m", "bench.alerts_memory", "child", mode])
            log = open(work / "child.log", "wb")
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            wait_for(lambda: b"ready" in (work / "child.log").read_bytes(), timeout=120, interval=0.2)
            time.sleep(3)
            samples: list[dict[str, Any]] = []
            t0 = time.monotonic()

            def accepted() -> int:
                row = conn.execute(
                    "SELECT count(*) FROM deliveries WHERE state = 'accepted'"
                ).fetchone()
                return int(row[0]) if row else 0

            def sample(n: int) -> None:
                assert proc is not None
                rss_mib = round(proc_rss_fds(proc.pid)[0] / 2**20, 1)
                samples.append({"accepted": n, "t_s": round(time.monotonic() - t0, 1),
                                "rss_mib": rss_mib, "threads": threads(proc.pid), **smaps(proc.pid)})
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)

            sample(0)
            k = 0
            next_sample = every
            while True:
                n = accepted()
                if n >= next_sample:
                    sample(n)
                    next_sample += every
                    smtp.clear()
                    sms.clear()
                if n >= n_target:
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"child exited {proc.returncode}: see {work / 'child.log'}")
                row = conn.execute(
                    "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')"
                ).fetchone()
                if row and int(row[0]) < backlog:
                    with conn.transaction():
                        for _ in range(5):
                            insee = communes[k % len(communes)]
                            k += 1
                            r = conn.execute(
                                "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level,"
                                " communes, title, opened_at, updated_at, level_since, max_level,"
                                " last_value, window_min) VALUES ('rain', %s, 'commune', %s, 'orange',"
                                " %s, %s, now(), now(), now(), 'orange', 42, 60) RETURNING id",
                                (f"rain:bench:{k}", insee, [insee], f"Pluie 1 h — commune {insee}"),
                            ).fetchone()
                            assert r is not None
                            conn.execute(
                                "INSERT INTO incident_changes (incident_id, at, kind, level, value,"
                                " window_min, detail) VALUES (%s, now(), 'opened', 'orange', 42, 60, %s)",
                                (r[0], Jsonb({"unit": "mm", "summary": "42 mm en 1 h"})),
                            )
                        conn.execute("SELECT pg_notify(%s, '')", (notify.INCIDENT_CHANGE,))
                    time.sleep(pause_s)
                time.sleep(0.05)
            first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
            span = max(1, last["accepted"] - first["accepted"])
            print(json.dumps({
                "bench": "alerts_memory", "machine": platform.node(), "mode": mode,
                "workers": int(workers), "pause_s": pause_s,
                "notifier_idle_s": os.environ.get("VIGIE_ALERTS__NOTIFIER_IDLE_S", "60"),
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "load": Path("/proc/loadavg").read_text().split()[:3],
                "accepted": last["accepted"], "duration_s": last["t_s"],
                "kib_per_delivery_after_first_sample": round(
                    (last["rss_mib"] - first["rss_mib"]) * 1024 / span, 2
                ),
                "samples": samples,
            }))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        child(sys.argv[2])
    else:
        main()
