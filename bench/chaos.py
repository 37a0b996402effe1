"""make chaos: process faults under load, counted against ground truth (issue 14, section 1).

Not a test. What it injects so far: `kill -9` loops on every service (ingest, alerts, api,
camera) while the gauge simulator publishes, each killed process restarted at once (what
`vigie up` and systemd do, without their backoff). A storm crossing (32 mm in 10 min, orange)
is published on one commune's station right before each kill, so the alert engine and the
notifier are killed with work in hand. Counted:

- readings: the simulator's ground truth (`--truth`) plus the crossings, against the rows in
  rain_readings (lost), and rows or rollup counts beyond one per reading (duplicated);
- notifications: one e-mail and one SMS per notify=true incident change (one subscriber per
  commune), against what the local SMTP server and SMSEagle stand-in received;
- recovery: seconds from the kill until the new process is healthy: for the API /healthz
  answers 200; for the others, every loop of the new pid has a fresh heartbeat.

Not injected yet (keys left null): network faults between services and broker (--network puts
only the gauges behind bench/fault_proxy.py), broker and database restarts,
SMTP/SMS outages, disk full. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.types.json import Jsonb

from bench.fault_proxy import FaultProxy
from camera import store
from simulators.sinks import SmsSink, SmtpSink
from tests.camera.factories import camera
from tests.camera.live_server import LiveServer, Scene
from tests.mqtt_helpers import Publisher
from tests.support import Broker, Service, create_database, db_url, drop_database, free_port, wait_for
from vigie.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
COMMUNES = ["60043", "60119", "60147", "60150", "60368", "60373", "60378", "60392", "60423",
            "60492", "60501", "60537", "60582", "60636", "60642", "60654"]
# Loops each service's process reports (docs/liveness.md); healthy = all present and fresh.
LOOPS = {"ingest": {"writer", "mqtt"}, "alerts": {"engine", "cap", "notifier"}}
Conn = psycopg.Connection[Any]


def healthy(conn: Conn, name: str, svc: Service, api_port: int) -> bool:
    """Is the (new) process of this service doing its work?"""
    assert svc.proc is not None
    if svc.proc.poll() is not None:
        return False
    if name == "api":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False
    rows = conn.execute(
        "SELECT loop, extract(epoch FROM now() - beat_at) < max_interval_s FROM service_heartbeats"
        " WHERE pid = %s AND service = %s",
        (svc.proc.pid, name),
    ).fetchall()
    loops = {str(loop) for loop, fresh in rows if fresh}
    want = LOOPS.get(name)
    if want is None:  # camera: one loop per camera
        return any(loop.startswith("camera:") for loop in loops)
    return want <= loops


def network_faults(proxy: FaultProxy, args: argparse.Namespace) -> dict[str, Any]:
    """Gauges -> broker: latency and loss, then one partition, then flapping; then healed."""
    f = proxy.faults
    f.latency_s, f.jitter_s, f.loss = 0.5, 0.2, 0.10
    time.sleep(args.degraded_s)
    f.latency_s, f.jitter_s, f.loss = 0.0, 0.0, 0.0
    proxy.partition(True)
    time.sleep(args.partition_s)
    proxy.partition(False)
    proxy.flap(2.0, time.monotonic() + args.flap_s).join()
    return {"degraded_s": args.degraded_s, "partition_s": args.partition_s, "flap_s": args.flap_s,
            "resets": proxy.resets}


def crossing(pub: Publisher, sid: str, seq: int) -> None:
    body = json.dumps(
        {"seq": seq, "ts": datetime.now(UTC).replace(microsecond=0).isoformat(), "tips": 160,
         "interval_s": 600}
    )
    code = pub.publish(f"vigie/v1/gauges/{sid}/up", body)
    if code != 0:
        raise RuntimeError(f"crossing refused: {code}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kills", type=int, default=3, help="kill -9 per service")
    p.add_argument("--stations", type=int, default=200)
    p.add_argument("--speed", type=float, default=20.0, help="simulated s per wall s (60 s interval)")
    p.add_argument("--between-s", type=float, default=4.0, help="wait between recoveries and kills")
    p.add_argument("--network", action="store_true", help="gauges -> broker through the fault proxy")
    p.add_argument("--partition-s", type=float, default=60.0)
    p.add_argument("--degraded-s", type=float, default=20.0, help="latency + loss phase length")
    p.add_argument("--flap-s", type=float, default=15.0, help="flapping phase length (2 s period)")
    p.add_argument("--timeout-s", type=float, default=60.0, help="recovery given up after this")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vigie-chaos-"))
    work.chmod(0o755)
    name = create_database()
    url = db_url(name)
    broker = Broker(work / "broker", free_port())
    (work / "broker").mkdir()
    (work / "broker").chmod(0o755)
    smtp, sms = SmtpSink().start(), SmsSink().start()
    live = LiveServer(Scene()).start()
    api_port = free_port()
    services: dict[str, Service] = {}
    sim: subprocess.Popen[bytes] | None = None
    proxy: FaultProxy | None = None
    try:
        migrate(url)
        broker.start()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE rules SET enabled = (name LIKE 'Cumul 1 h%')")
            crossers = [f"chaos-x-{c}" for c in COMMUNES]
            for i, (sid, insee) in enumerate(zip(crossers, COMMUNES, strict=True)):
                conn.execute(
                    "INSERT INTO stations (id, name, commune_insee, lat, lon) VALUES (%s,%s,%s,%s,%s)",
                    (sid, sid, insee, 49.45 + i * 0.003, 2.85),
                )
                conn.execute(
                    "INSERT INTO subscribers (name, communes, min_level, channels) VALUES (%s,%s,%s,%s)",
                    (f"Mairie {insee}", [insee], "yellow", Jsonb([
                        {"kind": "email", "url": smtp.apprise_url(f"mairie-{insee}@example.org")},
                        {"kind": "sms", "url": sms.apprise_url(f"+336100000{i:02d}")},
                    ])),
                )
            store.upsert_camera(
                conn, camera("chaos-cam", url=live.snapshot_url, source_kind="snapshot",
                             snapshot_interval_s=0.5)
            )
        env = {
            "VIGIE_DATABASE_URL": url,
            "VIGIE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",
            "VIGIE_LIVENESS__REPORT_S": "0.5",
            "VIGIE_PUBLIC_URL": "https://vigie.example.org",
            "VIGIE_ALERTS__GROUP_HOLD_S": "1",
            "VIGIE_ALERTS__LEASE_S": "10",
        }
        services = {
            "ingest": Service(["ingest"], {**env, "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
                                           "VIGIE_INGEST__CLIENT_ID": "chaos-ingest"},
                              work / "ingest.log"),
            "alerts": Service(["alerts"], env, work / "alerts.log"),
            "api": Service(["api"], {**env, "VIGIE_MQTT_URL": broker.url("vigie-api"),
                                     "VIGIE_API__PORT": str(api_port)}, work / "api.log"),
            "camera": Service(["camera", "run"], {**env, "VIGIE_MQTT_URL": broker.url("vigie-camera"),
                                                  "VIGIE_CAMERA__MEDIA_DIR": str(work / "media"),
                                                  "VIGIE_CAMERA__MIN_FREE_BYTES": "0"},
                              work / "camera.log"),
        }
        for s in services.values():
            s.start()
        with psycopg.connect(url, autocommit=True) as conn:
            for n, s in services.items():
                wait_for(partial(healthy, conn, n, s, api_port), timeout=90, interval=0.2)
        truth_path = work / "truth.json"
        sim_url = broker.url("vigie-simulator")
        if args.network:
            port = urlsplit(sim_url).port
            assert port is not None
            proxy = FaultProxy(port, free_port(), seed=14).start()
            sim_url = sim_url.replace(f":{port}", f":{proxy.port}")
        sim = subprocess.Popen(
            [sys.executable, "-m", "vigie.cli", "simulate", "gauges", "--stations", str(args.stations),
             "--interval-s", "60", "--speed", str(args.speed), "--storm", "none", "--register",
             "--prefix", "chaos-", "--mqtt-url", sim_url, "--truth", str(truth_path),
             "--seed", "14"],
            env={**os.environ, **env},
            stdout=open(work / "sim.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        pub = Publisher(broker.url("vigie-simulator"))
        time.sleep(5)  # the load is established
        if sim.poll() is not None:
            raise RuntimeError(f"the gauge simulator exited: {(work / 'sim.log').read_text()[-2000:]}")
        network: dict[str, Any] | None = None
        if proxy is not None:
            network = network_faults(proxy, args)
        recovery: dict[str, list[float]] = {n: [] for n in services}
        unrecovered: Counter[str] = Counter()
        seq = 0
        with psycopg.connect(url, autocommit=True) as conn:
            for n, s in services.items():
                for _ in range(args.kills):
                    time.sleep(args.between_s)
                    # Work in hand: a crossing just before the kill.
                    crossing(pub, crossers[seq % len(crossers)], 10**9 + seq)
                    seq += 1
                    assert s.proc is not None
                    s.proc.send_signal(signal.SIGKILL)
                    s.proc.wait()
                    t0 = time.monotonic()
                    s.start()
                    try:
                        wait_for(partial(healthy, conn, n, s, api_port),
                                 timeout=args.timeout_s, interval=0.1)
                        recovery[n].append(time.monotonic() - t0)
                    except (AssertionError, TimeoutError):
                        unrecovered[n] += 1
            # Stop the load and let everything settle.
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=120)
            pub.client.loop_stop()
            pub.client.disconnect()
            truth = json.loads(truth_path.read_text())
            sent = {(sid, int(ts)) for sid, st in truth["stations"].items() for ts, _ in st.get("sent", [])}
            expected_readings = len(sent) + seq
            def stored() -> int:
                row = conn.execute("SELECT count(*) FROM rain_readings").fetchone()
                return int(row[0]) if row else 0
            try:
                wait_for(lambda: stored() >= expected_readings, timeout=60, interval=0.5)
            except (AssertionError, TimeoutError):
                pass
            def expected_msgs() -> int:
                row = conn.execute("SELECT count(*) FROM incident_changes WHERE notify").fetchone()
                return int(row[0]) if row else 0
            try:
                wait_for(
                    lambda: min(len(smtp.messages), len(sms.messages)) >= expected_msgs(),
                    timeout=60,
                    interval=0.5,
                )
            except (AssertionError, TimeoutError):
                pass
            time.sleep(5)  # late doubles must show
            rows = {
                (str(s), int(ts))
                for s, ts in conn.execute(
                    "SELECT station_id, extract(epoch FROM ts)::bigint FROM rain_readings"
                    " WHERE station_id LIKE 'chaos-%' AND station_id NOT LIKE 'chaos-x-%'"
                )
            }
            n_rows = stored()
            row = conn.execute(
                "SELECT (SELECT coalesce(sum(readings), 0) FROM rain_5min)"
                " - (SELECT count(*) FROM rain_readings)"
            ).fetchone()
            rollup_excess = int(row[0]) if row else 0
            incidents = conn.execute(
                "SELECT count(*), count(DISTINCT scope_id) FROM incidents").fetchone()
            opened_twice = conn.execute(
                "SELECT count(*) FROM (SELECT incident_id FROM incident_changes WHERE kind = 'opened'"
                " GROUP BY incident_id HAVING count(*) > 1) d"
            ).fetchone()
            n_expected = expected_msgs()
        mails = Counter((tuple(m["rcpt_tos"]), m["subject"], m["body"]) for m in smtp.messages)
        texts = Counter((t["to"], t["text"]) for t in sms.messages)
        result = {
            "bench": "chaos",
            "machine": f"{platform.node()} ({os.cpu_count()} cores, shared)",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "readings_published": expected_readings,
            "readings_stored": n_rows,
            "lost": len(sent - rows) + max(0, seq - (n_rows - len(rows))),
            "duplicated": max(0, n_rows - expected_readings) + max(0, rollup_excess),
            "late": None,
            "notifications_expected": 2 * n_expected,
            "notifications_delivered": len(mails) + len(texts),
            "notifications_duplicated": sum(c - 1 for c in (mails + texts).values() if c > 1),
            "incidents": int(incidents[0]) if incidents else 0,
            "incidents_opened_twice": int(opened_twice[0]) if opened_twice else 0,
            "max_recovery_s": {n: round(max(v), 2) if v else None for n, v in recovery.items()},
            "median_recovery_s": {n: round(sorted(v)[len(v) // 2], 2) if v else None
                                  for n, v in recovery.items()},
            "unrecovered": dict(unrecovered),
            "kills_per_service": args.kills,
            "faults_injected": (["latency 500±200 ms + 10% loss (proxy)", "partition", "flapping"]
                                if network else []) + [f"kill -9 {n}" for n in services],
            "network_faults": network,
            "broker_restart": None,
            "database_restart": None,
            "smtp_sms_down": None,
            "disk_full": None,
            "gauges": args.stations,
            "tracebacks": {n: s.log().count("Traceback") for n, s in services.items()},
        }
        print(json.dumps(result))
    finally:
        if sim is not None and sim.poll() is None:
            sim.kill()
        for s in services.values():
            if s.proc is not None and s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
                try:
                    s.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    s.proc.kill()
        if proxy is not None:
            proxy.stop()
        live.stop()
        sms.stop()
        smtp.stop()
        broker.stop()
        drop_database(name)
        if os.environ.get("VIGIE_CHAOS_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
