"""make chaos: process, network and disk faults under load, counted against ground truth
(issue 14, section 1). Not a test; prints one JSON line. docs/benchmarks.md, "make chaos".

The stage (bench/chaos_env.py): a TimescaleDB server of the run's own (it is restarted and its
disk filled, so not the shared one); Mosquitto in a network namespace of its own; two gauge
simulator processes in another; the services (ingest, alerts, api, camera with one snapshot
webcam) in the root namespace with the database, the SMTP and SMS stand-ins and the webcam. The
gauges -> broker and services -> broker links cross veth pairs through bench/fault_proxy.py
(no netem here), which passes bytes through untouched until a network fault is switched on.

Fault families (--faults, default all, in this order):
- kill: `kill -9` of each service in turn, --kills times, a storm crossing published right
  before each kill; the killed process is started again at once (what `vigie up` does);
- storm: the alert engine killed mid-storm, twice: right after four stations of four communes
  cross orange (incidents opening, notifications going out), and right after they escalate to red;
- sinks: the SMTP server and the SMS gateway down for --sinks-down-s while two incidents open;
- broker: Mosquitto stopped and started again under load;
- database: the database server stopped (fast) and started again under load;
- network: both links at 500 +/- 200 ms with 10% of chunks held back, a --partition-s partition
  of the gauges' link, then of the services' link, then both links flapping;
- disk: the media volume (a tmpfs) filled: the camera must stop recording and say so, the rest
  go on; then emptied: it must record again. Then the database's volume filled (--db-disk).

Counted: readings (the simulators' ground truth plus what the harness published) against
rain_readings: lost, doubled (rows beyond one per reading, rollup counts beyond the rows), late
(stored more than --late-s after their timestamp, for readings timed after the run started);
notifications: one e-mail and one SMS per `notify` incident change (one subscriber per commune,
crossings of one fault in distinct communes so nothing is grouped), against what the SMTP and SMS
stand-ins received; recovery: seconds from the end of each fault until each service is healthy
(API: /healthz 200; others: every loop of the process beats; ingest also: a probe reading
published then is stored within 1 s).
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
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.chaos_env import Namespaces, NsBroker, PrivatePg, SmallDisk
from bench.fault_proxy import FaultProxy
from camera import store
from simulators.gauges.fleet import make_fleet, register
from simulators.sinks import SmsSink, SmtpSink
from tests.camera.factories import camera
from tests.camera.live_server import LiveServer, Scene
from tests.mqtt_helpers import Publisher
from tests.support import Service, free_port, wait_for
from vigie.migrate import migrate

FAMILIES = ("kill", "storm", "sinks", "broker", "database", "network", "disk")
COMMUNES = [
    "60043",
    "60119",
    "60147",
    "60150",
    "60368",
    "60373",
    "60378",
    "60392",
    "60423",
    "60492",
    "60501",
    "60537",
    "60582",
    "60636",
    "60642",
    "60654",
]
# Loops each service's process reports (docs/liveness.md); healthy = all present and fresh.
LOOPS = {"ingest": {"writer", "mqtt"}, "alerts": {"engine", "cap", "notifier"}}
PROBE = "chaos-probe"
SHORT_EVENTS = {"pre_roll_s": 1.0, "post_roll_s": 1.0, "gap_s": 1.0, "max_clip_s": 10.0}
SIMULATORS = (("chaos-a-", 14), ("chaos-b-", 15))
Conn = psycopg.Connection[Any]


def cpu_s(svc: Service) -> float | None:
    """user + system CPU seconds used so far by the service's process (Linux /proc)."""
    if svc.proc is None:
        return None
    try:
        fields = Path(f"/proc/{svc.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Chaos:
    """The run's state: services, stand-ins, the harness's own publications, the measures."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.pg = PrivatePg(free_port(), tmpfs_mib=args.db_mib)
        self.ns = Namespaces()
        self.broker = NsBroker(work / "broker", free_port(), self.ns.broker)
        self.gauge_proxy: FaultProxy | None = None
        self.service_proxy: FaultProxy | None = None
        self.smtp, self.sms = SmtpSink(), SmsSink()
        # The webcam's scene is still until the disk family makes a square cross it (events, so
        # clips to write): a motion seen for minutes on the same path is learnt as flicker.
        self.live = LiveServer(Scene())
        self.media = SmallDisk(work / "media", args.media_mib)
        self.api_port = free_port()
        self.services: dict[str, Service] = {}
        self.sims: list[subprocess.Popen[bytes]] = []
        self.pub: Publisher | None = None
        self.conn: Conn | None = None
        self.published: set[tuple[str, int]] = set()  # (station, epoch ts) the harness sent
        self.seq: Counter[str] = Counter()
        self.crossers: list[str] = []
        self.next_crosser = 0
        self.recovery: dict[str, list[float]] = {}
        self.unrecovered: Counter[str] = Counter()
        self.faults: list[str] = []
        self.details: dict[str, Any] = {}
        self.started_at = time.time()
        self.t_start = time.monotonic()
        # Harness readings the broker answered "no matching subscribers" (16) to: dropped by it.
        self.no_subscriber: list[tuple[str, int, float]] = []
        self.api_answers: Counter[int] = Counter()  # status -> count (0: no answer)
        # Harness readings the broker never acknowledged: not a loss of the system if missing.
        self.unacked: set[tuple[str, int]] = set()

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        self.pg.start()
        url = self.pg.create()
        migrate(url)
        self.url = url
        self.ns.up()
        (self.work / "broker").mkdir()
        (self.work / "broker").chmod(0o755)
        self.broker.start()
        self.gauge_proxy = FaultProxy(
            self.broker.port,
            free_port(),
            target_host=self.ns.broker.ip,
            seed=14,
            listen_host=self.ns.gauges.host_ip,
        ).start()
        self.service_proxy = FaultProxy(
            self.broker.port, free_port(), target_host=self.ns.broker.ip, seed=15
        ).start()
        self.smtp.start()
        self.sms.start()
        self.live.start()
        self.media.mount()
        conn = psycopg.connect(url, autocommit=True)
        self.conn = conn
        conn.execute("UPDATE rules SET enabled = (name LIKE 'Cumul 1 h%')")
        for i, insee in enumerate(COMMUNES):
            conn.execute(
                "INSERT INTO subscribers (name, communes, min_level, channels) VALUES (%s,%s,%s,%s)",
                (
                    f"Mairie {insee}",
                    [insee],
                    "yellow",
                    Jsonb(
                        [
                            {"kind": "email", "url": self.smtp.apprise_url(f"mairie-{insee}@example.org")},
                            {"kind": "sms", "url": self.sms.apprise_url(f"+336100000{i:02d}")},
                        ]
                    ),
                ),
            )
        # Enough crossing stations for every fault; station n is in commune n mod 16.
        for n in range(96):
            sid = f"chaos-x-{n:02d}"
            conn.execute(
                "INSERT INTO stations (id, name, commune_insee, lat, lon) VALUES (%s,%s,%s,%s,%s)",
                (sid, sid, COMMUNES[n % len(COMMUNES)], 49.45 + (n % 16) * 0.003, 2.85 + (n // 16) * 0.003),
            )
            self.crossers.append(sid)
        conn.execute(
            "INSERT INTO stations (id, name, commune_insee, lat, lon) VALUES (%s,%s,%s,%s,%s)",
            (PROBE, PROBE, COMMUNES[0], 49.40, 2.80),
        )
        per_sim = max(1, self.args.stations // len(SIMULATORS))
        for prefix, seed in SIMULATORS:
            register(conn, make_fleet(per_sim, seed=seed, interval_s=60, prefix=prefix))
        store.upsert_camera(
            conn,
            camera(
                "chaos-cam",
                url=self.live.snapshot_url,
                source_kind="snapshot",
                snapshot_interval_s=0.25,
                event_config=SHORT_EVENTS,
            ),
        )
        assert self.service_proxy is not None
        mqtt_host, mqtt_port = "127.0.0.1", self.service_proxy.port
        self.env = {
            "VIGIE_DATABASE_URL": url,
            "VIGIE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",
            "VIGIE_LIVENESS__REPORT_S": "0.5",
            "VIGIE_PUBLIC_URL": "https://vigie.example.org",
            "VIGIE_ALERTS__GROUP_HOLD_S": "1",
            "VIGIE_ALERTS__LEASE_S": "10",
        }
        b = self.broker
        self.services = {
            "ingest": Service(
                ["ingest"],
                {
                    **self.env,
                    "VIGIE_MQTT_URL": b.url_via("vigie-ingest", mqtt_host, mqtt_port),
                    "VIGIE_INGEST__CLIENT_ID": "chaos-ingest",
                },
                self.work / "ingest.log",
            ),
            "alerts": Service(["alerts"], self.env, self.work / "alerts.log"),
            "api": Service(
                ["api"],
                {
                    **self.env,
                    "VIGIE_MQTT_URL": b.url_via("vigie-api", mqtt_host, mqtt_port),
                    "VIGIE_API__PORT": str(self.api_port),
                },
                self.work / "api.log",
            ),
            "camera": Service(
                ["camera", "run"],
                {
                    **self.env,
                    "VIGIE_MQTT_URL": b.url_via("vigie-camera", mqtt_host, mqtt_port),
                    "VIGIE_CAMERA__MEDIA_DIR": str(self.media.path),
                    "VIGIE_CAMERA__MIN_FREE_BYTES": str(self.args.min_free_mib * 1024**2),
                    "VIGIE_CAMERA__DISK_QUOTA_BYTES": str(10 * 1024**3),
                },
                self.work / "camera.log",
            ),
        }
        self.recovery = {n: [] for n in self.services}
        self.cpu: dict[str, list[float]] = {n: [] for n in self.services}
        for s in self.services.values():
            s.start()
        for name in self.services:
            wait_for(partial(self.healthy, name), timeout=120, interval=0.2)
        self.pub = Publisher(b.url_via("vigie-simulator", self.ns.broker.ip, b.port))
        assert self.gauge_proxy is not None
        for prefix, seed in SIMULATORS:
            self.sims.append(
                subprocess.Popen(
                    [
                        *self.ns.gauges.exec_prefix(),
                        sys.executable,
                        "-m",
                        "vigie.cli",
                        "simulate",
                        "gauges",
                        "--stations",
                        str(per_sim),
                        "--interval-s",
                        "60",
                        "--speed",
                        str(self.args.speed),
                        "--storm",
                        "none",
                        "--prefix",
                        prefix,
                        "--seed",
                        str(seed),
                        "--mqtt-url",
                        b.url_via("vigie-simulator", self.ns.gauges.host_ip, self.gauge_proxy.port),
                        "--truth",
                        str(self.work / f"truth-{prefix}json"),
                    ],
                    env={**os.environ, **self.env},
                    stdout=open(self.work / f"sim-{prefix}log", "ab"),
                    stderr=subprocess.STDOUT,
                )
            )
        # Load on the API too, so that its pool holds several connections when the database
        # restarts (the 35 s of `database: false` came from a pool's dead connections).
        self.api_load_stop = threading.Event()
        for i in range(self.args.api_clients):
            threading.Thread(target=self.api_client, name=f"api-load-{i}", daemon=True).start()
        time.sleep(5)  # the load is established
        for sim in self.sims:
            if sim.poll() is not None:
                raise RuntimeError(f"a gauge simulator exited: see {self.work}")

    def api_client(self) -> None:
        """One client of the public API, a request every 50 ms; counts answers by status."""
        urls = [
            f"http://127.0.0.1:{self.api_port}/healthz",
            f"http://127.0.0.1:{self.api_port}/api/v1/alerts/cap.atom",
        ]
        i = 0
        while not self.api_load_stop.is_set():
            i += 1
            try:
                with urllib.request.urlopen(urls[i % 2], timeout=5) as r:  # noqa: S310  # http only
                    self.api_answers[r.status] += 1
            except urllib.error.HTTPError as e:
                self.api_answers[e.code] += 1
            except OSError:
                self.api_answers[0] += 1
            self.api_load_stop.wait(0.05)

    # -- health ---------------------------------------------------------------------------------
    def db(self) -> Conn:
        """The harness's connection, reopened after a database restart."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
        return self.conn

    def healthy(self, name: str) -> bool:
        """Is the (new) process of this service doing its work?"""
        svc = self.services[name]
        assert svc.proc is not None
        if svc.proc.poll() is not None:
            return False
        if name == "api":
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/healthz", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False
        try:
            rows = (
                self.db()
                .execute(
                    "SELECT loop, extract(epoch FROM now() - beat_at) < max_interval_s"
                    " FROM service_heartbeats WHERE pid = %s AND service = %s",
                    (svc.proc.pid, name),
                )
                .fetchall()
            )
        except psycopg.Error:
            self.conn = None
            return False
        loops = {str(loop) for loop, fresh in rows if fresh}
        want = LOOPS.get(name)
        if want is None:  # camera: one loop per camera
            return any(loop.startswith("camera:") for loop in loops)
        return want <= loops

    def lag_ok(self) -> bool:
        """A probe reading published now is stored within 1 s (ingest consumes, lag < 1 s)."""
        ts = self.publish(PROBE, 0, 60)
        if ts is None:
            return False
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                row = (
                    self.db()
                    .execute(
                        "SELECT 1 FROM rain_readings WHERE station_id = %s AND ts = to_timestamp(%s)",
                        (PROBE, ts),
                    )
                    .fetchone()
                )
            except psycopg.Error:
                self.conn = None
                return False
            if row:
                return True
            time.sleep(0.05)
        return False

    def wait_recovered(
        self, names: list[str], t0: float, *, lag: bool = True, fresh: bool = False
    ) -> dict[str, float | None]:
        """Seconds from t0 until each service is healthy (ingest: and the lag probe passes).
        fresh: the processes were just started; then also the CPU seconds they used until
        healthy, a figure the machine's load does not change (the seconds, it does)."""
        out: dict[str, float | None] = {}
        for n in names:

            def ok(n: str = n) -> bool:
                return self.healthy(n) and (n != "ingest" or not lag or self.lag_ok())

            try:
                wait_for(ok, timeout=self.args.timeout_s, interval=0.1)
                out[n] = round(time.monotonic() - t0, 2)
                self.recovery[n].append(time.monotonic() - t0)
                cpu = cpu_s(self.services[n]) if fresh else None
                if cpu is not None:
                    self.cpu[n].append(cpu)
            except (AssertionError, TimeoutError):
                out[n] = None
                self.unrecovered[n] += 1
        return out

    # -- what the harness publishes ---------------------------------------------------------------
    def publish(self, sid: str, tips: int, interval_s: int) -> int | None:
        """One reading of sid timed now (a second after the previous one at least); its ts, or
        None when the broker did not acknowledge it (then it may still arrive: it is counted)."""
        ts = int(time.time())
        while (sid, ts) in self.published:
            ts += 1
        self.seq[sid] += 1
        body = json.dumps(
            {
                "seq": 10**9 + self.seq[sid],
                "ts": datetime.fromtimestamp(ts, UTC).isoformat(),
                "tips": tips,
                "interval_s": interval_s,
            }
        )
        self.published.add((sid, ts))
        assert self.pub is not None
        try:
            code = self.pub.publish(f"vigie/v1/gauges/{sid}/up", body)
        except AssertionError:  # no PUBACK in 10 s: paho may still send it after reconnecting
            self.unacked.add((sid, ts))
            return None
        if code == 16:  # "no matching subscribers": the broker acknowledged and dropped it
            self.published.discard((sid, ts))
            self.no_subscriber.append((sid, ts, round(time.monotonic() - self.t_start, 1)))
            return None
        if code != 0:
            self.published.discard((sid, ts))
            raise RuntimeError(f"reading refused: {code}")
        return ts

    def crossing(self) -> str:
        """32 mm in 10 min on the next crossing station: an orange incident, notifications."""
        sid = self.crossers[self.next_crosser]
        self.next_crosser += 1
        self.publish(sid, 160, 600)
        return sid

    def kill(self, name: str) -> float:
        s = self.services[name]
        assert s.proc is not None
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        t0 = time.monotonic()
        s.start()
        return t0

    # -- fault families ---------------------------------------------------------------------------
    def fault_kill(self) -> None:
        for n in self.services:
            for _ in range(self.args.kills):
                time.sleep(self.args.between_s)
                self.crossing()  # work in hand
                t0 = self.kill(n)
                self.wait_recovered([n], t0, fresh=True)
            self.faults.append(f"kill -9 {n}")

    def fault_storm(self) -> None:
        """Four crossings in four communes, the engine killed as they open; then they escalate
        to red (+20 mm), and the engine is killed again as it escalates."""
        first = self.next_crosser
        self.next_crosser += (-first) % 16  # start at commune 0: four distinct communes below
        sids = [self.crossers[self.next_crosser + i * 4] for i in range(4)]
        self.next_crosser += 16
        out = []
        for tips, pause in ((160, 0.3), (100, 0.5)):
            time.sleep(self.args.between_s)
            for sid in sids:
                time.sleep(1.0 if tips == 100 else 0.0)
                self.publish(sid, tips, 600 if tips == 160 else 300)
            time.sleep(pause)
            t0 = self.kill("alerts")
            out.append(self.wait_recovered(["alerts"], t0, fresh=True))
        self.details["storm"] = {"stations": sids, "recovery_s": out}
        self.faults.append("alerts killed mid-storm (opening, then escalating)")

    def fault_sinks(self) -> None:
        time.sleep(self.args.between_s)
        self.smtp.stop()
        self.sms.stop()
        t_down = time.monotonic()
        before = len(self.smtp.messages) + len(self.sms.messages)
        sids = [self.crossing(), self.crossing()]
        time.sleep(max(0.0, self.args.sinks_down_s - (time.monotonic() - t_down)))
        during = len(self.smtp.messages) + len(self.sms.messages) - before
        self.smtp.start()
        self.sms.start()
        self.details["sinks_down"] = {
            "down_s": self.args.sinks_down_s,
            "stations": sids,
            "received_while_down": during,
        }
        self.faults.append(f"SMTP and SMS gateway down {self.args.sinks_down_s:g} s")

    def fault_broker(self) -> None:
        time.sleep(self.args.between_s)
        self.broker.stop()
        time.sleep(self.args.outage_s)
        self.broker.start()
        t0 = time.monotonic()
        rec = self.wait_recovered(list(self.services), t0)
        self.crossing()
        self.details["broker_restart"] = {"outage_s": self.args.outage_s, "recovery_s": rec}
        self.faults.append("broker restarted under load")

    def fault_database(self) -> None:
        time.sleep(self.args.between_s)
        self.pg.stop()
        time.sleep(self.args.outage_s)
        self.pg.start()
        t0 = time.monotonic()
        rec = self.wait_recovered(list(self.services), t0)
        # The whole chain after the restart: a crossing until its incident is open.
        sid = self.crossing()
        t1 = time.monotonic()
        wait_for(
            lambda: self.db().execute("SELECT 1 FROM incidents WHERE scope_id = %s", (sid,)).fetchone(),
            timeout=60,
            interval=0.1,
        )
        self.details["database_restart"] = {
            "outage_s": self.args.outage_s,
            "recovery_s": rec,
            "crossing_to_incident_s": round(time.monotonic() - t1, 2),
        }
        self.faults.append("database restarted under load")

    def fault_network(self) -> None:
        g, s = self.gauge_proxy, self.service_proxy
        assert g is not None and s is not None
        out: dict[str, Any] = {
            "loss_unit": "chunk (one read of the TCP stream, <= 64 KiB), held back "
            "0.2-1 s as a retransmission; never dropped"
        }
        for p in (g, s):
            p.faults.latency_s, p.faults.jitter_s, p.faults.loss = 0.5, 0.2, 0.10
        time.sleep(self.args.degraded_s)
        for p in (g, s):
            p.faults.latency_s, p.faults.jitter_s, p.faults.loss = 0.0, 0.0, 0.0
        t0 = time.monotonic()
        out["degraded"] = {"s": self.args.degraded_s, "recovery_s": self.wait_recovered(["ingest"], t0)}
        for label, p in (("gauges", g), ("services", s)):
            p.partition(True)
            time.sleep(self.args.partition_s)
            p.partition(False)
            t0 = time.monotonic()
            # The probe goes to the broker directly and reaches ingest behind the backlog.
            out[f"partition_{label}"] = {
                "s": self.args.partition_s,
                "recovery_s": self.wait_recovered(list(self.services), t0),
            }
        until = time.monotonic() + self.args.flap_s
        threads = [p.flap(2.0, until) for p in (g, s)]
        for t in threads:
            t.join()
        t0 = time.monotonic()
        out["flap"] = {
            "s": self.args.flap_s,
            "period_s": 2.0,
            "recovery_s": self.wait_recovered(list(self.services), t0),
        }
        out["resets"] = g.resets + s.resets
        self.details["network"] = out
        self.faults += [
            "latency 500±200 ms + 10% chunks held back (both links)",
            "partition gauges link",
            "partition services link",
            "flapping (both links)",
        ]

    def camera_disk_state(self) -> str | None:
        try:
            row = (
                self.db()
                .execute("SELECT disk_state FROM camera_health WHERE camera_id = 'chaos-cam'")
                .fetchone()
            )
        except psycopg.Error:
            self.conn = None
            return None
        return str(row[0]) if row else None

    def fault_disk(self) -> None:
        """The media volume full: the camera says so (log, health row, metric) and stops
        recording; the other services go on; space back: it records again."""
        time.sleep(self.args.between_s)
        cam = self.services["camera"]
        log_before = cam.log().count("aucun nouveau clip")
        clips_before = self.clip_count()
        now = time.monotonic() - self.live.started  # the webcam's stream time
        self.live.scene.crossings = tuple((now + t, now + t + 3.0) for t in range(2, 240, 15))
        ballast = self.media.fill(leave_bytes=self.args.min_free_mib * 1024**2 // 2)
        t0 = time.monotonic()
        out: dict[str, Any] = {
            "volume": f"tmpfs {self.args.media_mib} MiB",
            "free_bytes_when_full": self.media.free_bytes(),
        }
        try:
            wait_for(lambda: self.camera_disk_state() == "full", timeout=60, interval=0.2)
            out["camera_says_full_s"] = round(time.monotonic() - t0, 2)
        except (AssertionError, TimeoutError):
            out["camera_says_full_s"] = None
        out["log_lines"] = cam.log().count("aucun nouveau clip") - log_before
        time.sleep(5)
        out["others_healthy_while_full"] = {n: self.healthy(n) for n in ("ingest", "alerts", "api")}
        out["ingest_lag_ok_while_full"] = self.lag_ok()
        clips_full = self.clip_count()
        ballast.unlink()
        t1 = time.monotonic()
        try:
            wait_for(
                lambda: self.camera_disk_state() == "ok" and self.clip_count() > clips_full,
                timeout=60,
                interval=0.2,
            )
            out["records_again_s"] = round(time.monotonic() - t1, 2)
        except (AssertionError, TimeoutError):
            out["records_again_s"] = None
        out["clips"] = {"before": clips_before, "while_full": clips_full, "after": self.clip_count()}
        out["camera_alive"] = cam.proc is not None and cam.proc.poll() is None
        self.details["disk_full_media"] = out
        self.faults.append("media volume full")
        self.fault_db_disk()

    def fault_db_disk(self) -> None:
        """The database's volume (its whole data directory, WAL included, on a tmpfs) filled to the
        last byte for --db-full-s under load; then emptied, and the server started again if it
        stopped (what an operator or systemd does). Nothing acknowledged may be lost: ingest
        acknowledges a reading to the broker only once it is committed."""
        time.sleep(self.args.between_s)
        vol = self.pg.volume
        assert vol is not None
        ballast = vol.fill(leave_bytes=0)
        t_full = time.monotonic()
        out: dict[str, Any] = {
            "volume": f"tmpfs {self.args.db_mib} MiB (data directory and WAL)",
            "free_bytes_when_full": vol.free_bytes(),
        }
        sid = self.crossing()  # an incident to open once the database writes again
        time.sleep(self.args.db_full_s)
        out["full_s"] = round(time.monotonic() - t_full, 1)
        out["server_up_while_full"] = self.pg.running()
        out["services_alive_while_full"] = {
            n: s.proc is not None and s.proc.poll() is None for n, s in self.services.items()
        }
        ingest_log = self.services["ingest"].log()
        out["ingest_said_write_failed"] = "database write failed" in ingest_log
        ballast.unlink()
        t0 = time.monotonic()
        restarted = False
        if not self.pg.running():
            time.sleep(2)  # the postmaster may be restarting by itself after a crash
            if not self.pg.running():
                self.pg.stop()
                self.pg.start()
                restarted = True
        out["server_started_again_by_harness"] = restarted
        out["recovery_s"] = self.wait_recovered(list(self.services), t0)
        try:
            wait_for(
                lambda: self.db().execute("SELECT 1 FROM incidents WHERE scope_id = %s", (sid,)).fetchone(),
                timeout=60,
                interval=0.2,
            )
            out["crossing_during_full_incident_s"] = round(time.monotonic() - t0, 2)
        except (AssertionError, TimeoutError):
            out["crossing_during_full_incident_s"] = None
        self.details["disk_full_database"] = out
        self.faults.append("database volume full")

    def clip_count(self) -> int:
        try:
            row = (
                self.db()
                .execute(
                    "SELECT count(*) FROM camera_events"
                    " WHERE camera_id = 'chaos-cam' AND clip_path IS NOT NULL"
                )
                .fetchone()
            )
        except psycopg.Error:
            self.conn = None
            return -1
        return int(row[0]) if row else 0

    # -- counting ---------------------------------------------------------------------------------
    def count(self) -> dict[str, Any]:
        for sim in self.sims:
            sim.send_signal(signal.SIGTERM)
        for sim in self.sims:
            sim.wait(timeout=180)
        assert self.pub is not None
        self.pub.client.loop_stop()
        self.pub.client.disconnect()
        sent: set[tuple[str, int]] = set()
        refused = no_subscriber = 0
        for prefix, _ in SIMULATORS:
            truth = json.loads((self.work / f"truth-{prefix}json").read_text())
            sent |= {(sid, int(ts)) for sid, st in truth["stations"].items() for ts, _ in st.get("sent", [])}
            refused += int(truth.get("refused", 0))
            # PUBACK 0x10, delivered to nobody: after a broker restart, before ingest subscribes
            # again (tests/ingest/test_broker_restart_shared.py); counted in `lost` as well.
            no_subscriber += int(truth.get("no_subscriber", 0))
        expected = sent | self.published
        conn = self.db()

        def stored() -> int:
            row = conn.execute("SELECT count(*) FROM rain_readings").fetchone()
            return int(row[0]) if row else 0

        try:
            wait_for(lambda: stored() >= len(expected), timeout=90, interval=0.5)
        except (AssertionError, TimeoutError):
            pass

        def distinct_mails() -> set[tuple[Any, ...]]:
            return {(tuple(m["rcpt_tos"]), m["subject"], m["body"]) for m in self.smtp.messages}

        def distinct_texts() -> set[tuple[Any, ...]]:
            return {(t["to"], t["text"]) for t in self.sms.messages}

        def expected_msgs() -> int:
            row = conn.execute("SELECT count(*) FROM incident_changes WHERE notify").fetchone()
            return int(row[0]) if row else 0

        try:
            wait_for(
                lambda: min(len(distinct_mails()), len(distinct_texts())) >= expected_msgs(),
                timeout=self.args.settle_s,
                interval=0.5,
            )
        except (AssertionError, TimeoutError):
            pass
        time.sleep(5)  # late doubles must show
        rows = {
            (str(s), int(ts))
            for s, ts in conn.execute("SELECT station_id, extract(epoch FROM ts)::bigint FROM rain_readings")
        }
        n_rows = stored()
        row = conn.execute(
            "SELECT (SELECT coalesce(sum(readings), 0) FROM rain_5min) - (SELECT count(*) FROM rain_readings)"
        ).fetchone()
        rollup_excess = int(row[0]) if row else 0
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE received_at - ts > make_interval(secs => %s)), count(*)"
            " FROM rain_readings WHERE ts >= to_timestamp(%s) AND station_id <> %s",
            (self.args.late_s, self.started_at, PROBE),
        ).fetchone()
        late, timed_in_run = (int(row[0]), int(row[1])) if row else (0, 0)
        inc = conn.execute("SELECT count(*) FROM incidents").fetchone()
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT incident_id FROM incident_changes WHERE kind = 'opened'"
            " GROUP BY incident_id HAVING count(*) > 1) d"
        ).fetchone()
        n_expected = expected_msgs()
        # Deliveries a killed notifier left 'sending', sent again after their lease: a message
        # the provider had already accepted goes out twice (docs/alerts.md, "The crash caveat").
        row = conn.execute(
            "SELECT count(DISTINCT delivery_id) FROM delivery_attempts WHERE detail LIKE 'envoi interrompu%%'"
        ).fetchone()
        resent = int(row[0]) if row else 0
        mails = Counter((tuple(m["rcpt_tos"]), m["subject"], m["body"]) for m in self.smtp.messages)
        texts = Counter((t["to"], t["text"]) for t in self.sms.messages)
        return {
            "readings_published": len(expected),
            "readings_stored": n_rows,
            "lost": len(expected - rows - self.unacked),
            "missing_sample": sorted(expected - rows)[:10],
            "simulator_refused": refused,
            "simulator_no_subscriber": no_subscriber,
            "harness_unacknowledged": len(self.unacked),
            "harness_unacknowledged_stored": len(self.unacked & rows),
            "duplicated": max(0, n_rows - len(rows)) + max(0, rollup_excess) + len(rows - expected),
            "late": late,
            "late_s": self.args.late_s,
            "readings_timed_in_run": timed_in_run,
            "notifications_expected": 2 * n_expected,
            "notifications_delivered": len(mails) + len(texts),
            "notifications_duplicated": sum(c - 1 for c in (mails + texts).values() if c > 1),
            "deliveries_resent_after_crash": resent,
            "incidents": int(inc[0]) if inc else 0,
            "incidents_opened_twice": int(twice[0]) if twice else 0,
        }

    def close(self) -> None:
        if hasattr(self, "api_load_stop"):
            self.api_load_stop.set()
        for sim in self.sims:
            if sim.poll() is None:
                sim.kill()
        for s in self.services.values():
            if s.proc is not None and s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
                try:
                    s.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    s.proc.kill()
        for p in (self.gauge_proxy, self.service_proxy):
            if p is not None:
                p.stop()
        for stop in (self.live.stop, self.sms.stop, self.smtp.stop, self.broker.stop):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001  # cleanup goes on whatever fails
                print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)
        if self.conn is not None:
            self.conn.close()
        self.ns.down()
        self.media.unmount()
        self.pg.remove()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--faults", default="all", help=f"comma-separated, of: {', '.join(FAMILIES)} (default all)"
    )
    p.add_argument("--kills", type=int, default=3, help="kill -9 per service")
    p.add_argument("--stations", type=int, default=200, help="gauges, over two simulator processes")
    p.add_argument("--speed", type=float, default=20.0, help="simulated s per wall s (60 s interval)")
    p.add_argument("--between-s", type=float, default=4.0, help="wait between recoveries and faults")
    p.add_argument("--outage-s", type=float, default=3.0, help="broker or database down this long")
    p.add_argument("--sinks-down-s", type=float, default=60.0)
    p.add_argument("--partition-s", type=float, default=60.0)
    p.add_argument("--degraded-s", type=float, default=20.0, help="latency + loss phase length")
    p.add_argument("--flap-s", type=float, default=15.0, help="flapping phase length (2 s period)")
    p.add_argument("--media-mib", type=int, default=64, help="size of the media tmpfs")
    p.add_argument("--min-free-mib", type=int, default=16, help="camera's VIGIE_CAMERA__MIN_FREE_BYTES")
    p.add_argument("--db-mib", type=int, default=512, help="size of the database's tmpfs")
    p.add_argument("--db-full-s", type=float, default=20.0, help="the database's volume stays full this long")
    p.add_argument("--late-s", type=float, default=60.0, help="a reading stored later than this is late")
    p.add_argument("--api-clients", type=int, default=4, help="threads requesting the API meanwhile")
    p.add_argument("--timeout-s", type=float, default=60.0, help="recovery given up after this")
    p.add_argument("--settle-s", type=float, default=180.0, help="wait for notifications at the end")
    args = p.parse_args()
    families = FAMILIES if args.faults == "all" else tuple(f.strip() for f in args.faults.split(","))
    unknown = set(families) - set(FAMILIES)
    if unknown:
        p.error(f"unknown fault families: {', '.join(sorted(unknown))}")

    work = Path(tempfile.mkdtemp(prefix="vigie-chaos-"))
    work.chmod(0o755)
    run = Chaos(args, work)
    try:
        run.setup()
        steps: dict[str, Callable[[], None]] = {
            "kill": run.fault_kill,
            "storm": run.fault_storm,
            "sinks": run.fault_sinks,
            "broker": run.fault_broker,
            "database": run.fault_database,
            "network": run.fault_network,
            "disk": run.fault_disk,
        }
        timeline = []
        for f in FAMILIES:
            if f in families:
                t = time.monotonic()
                steps[f]()
                timeline.append({"family": f, "s": round(time.monotonic() - t, 1)})
        counts = run.count()
        max_rec = {n: round(max(v), 2) if v else None for n, v in run.recovery.items()}
        result: dict[str, Any] = {
            "bench": "chaos",
            "machine": f"{platform.node()} ({os.cpu_count()} cores, shared)",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "families": list(families),
            **counts,
            "max_recovery_s": max_rec,
            "median_recovery_s": {
                n: round(sorted(v)[len(v) // 2], 2) if v else None for n, v in run.recovery.items()
            },
            "recoveries": {n: len(v) for n, v in run.recovery.items()},
            "max_restart_cpu_s": {n: round(max(v), 2) if v else None for n, v in run.cpu.items()},
            "unrecovered": dict(run.unrecovered),
            "faults_injected": run.faults,
            "harness_readings_dropped_no_subscriber": run.no_subscriber,
            "api_load_answers": {str(k): v for k, v in sorted(run.api_answers.items())},
            **run.details,
            "timeline": timeline,
            "gauges": args.stations,
            "simulator_processes": len(SIMULATORS),
            "tracebacks": {n: s.log().count("Traceback") for n, s in run.services.items()},
            "load_average_end": [round(x, 1) for x in os.getloadavg()],
        }
        result["targets_met"] = {
            "readings_exactly_once": counts["lost"] == 0 and counts["duplicated"] == 0,
            "notifications_exactly_once": counts["notifications_delivered"]
            == counts["notifications_expected"]
            and counts["notifications_duplicated"] == 0,
            "recovery_under_5s": all(v is not None and v < 5 for v in max_rec.values())
            and not run.unrecovered,
            "partition_backlog_delivered": counts["lost"] == 0 if "network" in families else None,
            "camera_disk_full_handled": (
                run.details["disk_full_media"]["camera_says_full_s"] is not None
                and run.details["disk_full_media"]["records_again_s"] is not None
                and all(run.details["disk_full_media"]["others_healthy_while_full"].values())
            )
            if "disk" in families
            else None,
            "database_disk_full_survived": (
                all(run.details["disk_full_database"]["services_alive_while_full"].values())
                and None not in run.details["disk_full_database"]["recovery_s"].values()
            )
            if "disk" in families
            else None,
        }
        print(json.dumps(result))
    finally:
        run.close()
        if os.environ.get("VIGIE_CHAOS_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
