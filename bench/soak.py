"""make soak: every service under the simulated fleet's full rate for an hour, sampled each minute
(issue 14, section 2).

Not a test. `vigie up` runs the four services exactly as on a site (its own supervisor, each
service with its own database and broker logins) against a fresh database and a broker of the
project's configuration. The load: 500 gauges reporting every 10 s (firmware's shortest
`rain_interval_s`, what a gauge sends in rain) in real time, in two fleets of 250, each
crossed by its own storm (Chicago, 15 min, 50-year return period, as the demo's), so that
incidents open and notifications go out to one subscriber per commune (e-mail and SMS, local
stand-ins); plus two simulated webcams (`vigie simulate webcam --serve`, MJPEG) watched by the
camera worker.

Sampled every SOAK_SAMPLE_S (60 s): each service's RSS and open file descriptors (its process
and descendants, read from /proc), the database connections by application_name
(pg_stat_activity), the ingest lag, the notifier's backlog (deliveries pending or sending), the
log lines at ERROR or above (per service) and the dead letters by reason.

Ingest lag, per sample: the highest of ingest's own lag (what /metrics exports as
vigie_ingest_lag_seconds: receive-to-commit of the oldest message of its last batch), polled
every second. Shown beside it, not judged: the longest delay from an interval's end to ingest's
receipt of its reading (received_at - ts), which includes the simulator's own time to publish
500 messages and the broker's, on a machine shared with other jobs.

Targets: RSS growing < 5% over the last 45 minutes (the first quarter of a shorter run is the
warm-up), no growth in file descriptors or connections over that window (the lowest of its
last five samples against the lowest of its first five), lag < 1 s at every sample. Prints
one JSON line and writes the plot to docs/soak.png (SOAK_PLOT sets another path).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.sandbox import proc_rss_fds, sandbox
from tests.support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ingest", "api", "alerts", "camera")
Conn = psycopg.Connection[Any]
FLEETS = 2  # two simulator processes, each its own storm
RSS_TARGET_PCT = 5.0
LAG_TARGET_S = 1.0
# A sample's median window for the fd and connection comparison.
EDGE = 5


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss: dict[str, int]
    fds: dict[str, int]
    pids: dict[str, int]
    conns: dict[str, int]
    lag_s: float  # ingest's lag, the highest polled since the last sample
    receive_delay_s: float  # the longest interval end -> ingest's receipt since the last sample
    backlog: int
    errors: dict[str, int]
    dead_letters: dict[str, int]
    stored: int
    load1: float


@dataclass
class LogCounter:
    """ERROR and CRITICAL lines of `vigie up`'s log (JSON, one record a line), per service,
    read incrementally; a Python traceback printed raw (outside logging) counts as one error."""

    path: Path
    offset: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def read(self, pid_service: dict[int, str]) -> dict[str, int]:
        if not self.path.exists():
            return dict(self.counts)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        for raw in chunk[:end].splitlines():
            line = raw.decode("utf-8", "replace")
            try:
                rec = json.loads(line)
            except ValueError:
                if line.startswith("Traceback"):
                    self.counts["unattributed"] += 1
                    self._keep(line)
                continue
            if not isinstance(rec, dict) or rec.get("level") not in ("ERROR", "CRITICAL"):
                continue
            pid = rec.get("pid")
            who = pid_service.get(pid, "") if isinstance(pid, int) else ""
            if not who:
                who = str(rec.get("logger", "?")).split(".")[0]
            self.counts[who] += 1
            self._keep(f"{who}: {rec.get('msg', '')}"[:300])
        return dict(self.counts)

    def _keep(self, text: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(text)


def service_processes(up_pid: int) -> dict[str, list[psutil.Process]]:
    """service -> its process and descendants, found under `vigie up` by command line."""
    found: dict[str, list[psutil.Process]] = {"up": [psutil.Process(up_pid)]}
    for child in psutil.Process(up_pid).children():
        try:
            args = child.cmdline()
        except psutil.Error:
            continue
        if "vigie.cli" in args and len(args) > args.index("vigie.cli") + 1:
            name = args[args.index("vigie.cli") + 1]
            try:
                found[name] = [child, *child.children(recursive=True)]
            except psutil.Error:
                continue
    return found


def rss_and_fds(up_pid: int) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    rss: dict[str, int] = {}
    fds: dict[str, int] = {}
    pids: dict[str, int] = {}
    for name, procs in service_processes(up_pid).items():
        pids[name] = procs[0].pid
        for p in procs:
            try:
                r, n = proc_rss_fds(p.pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            rss[name] = rss.get(name, 0) + r
            fds[name] = fds.get(name, 0) + n
    return rss, fds, pids


def scalar(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


class LagPoller:
    """Ingest's own lag (vigie_ingest_lag_seconds: receive-to-commit of the oldest message of its
    last batch), read every POLL_S on a connection of its own; take() gives the highest seen
    since the last take(). A sustained lag shows in every batch; one slow batch among the ten or
    so of a second can slip between two polls."""

    POLL_S = 1.0

    def __init__(self, url: str) -> None:
        self.url = url
        self.highest = 0.0
        self.polls = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-lag", daemon=True)

    def start(self) -> LagPoller:
        self.thread.start()
        return self

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="vigie-soak") as conn:
            while not self.stop.wait(self.POLL_S):
                lag = scalar(
                    conn, "SELECT coalesce(max((counters->>'lag_s')::float8), 0) FROM ingest_metrics"
                )
                with self.lock:
                    self.highest = max(self.highest, float(lag))
                    self.polls += 1

    def take(self) -> float:
        with self.lock:
            value, self.highest = self.highest, 0.0
        return value


class Sampler:
    def __init__(self, conn: Conn, dbname: str, up_pid: int, log: LogCounter, lag: LagPoller) -> None:
        self.conn = conn
        self.dbname = dbname
        self.up_pid = up_pid
        self.log = log
        self.lag = lag
        self.since = datetime.now(UTC)

    def take(self, t: float) -> Sample:
        rss, fds, pids = rss_and_fds(self.up_pid)
        conn = self.conn
        conns = {
            str(app or "?"): int(n)
            for app, n in conn.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid() GROUP BY 1",
                (self.dbname,),
            )
        }
        now = datetime.now(UTC)
        receive = scalar(
            conn,
            "SELECT coalesce(max(extract(epoch FROM received_at - ts)), 0) FROM rain_readings"
            " WHERE ts > %s AND received_at > %s",
            (self.since - timedelta(minutes=10), self.since),
        )
        self.since = now
        commit = self.lag.take()
        backlog = int(scalar(conn, "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')"))
        dead = {
            str(r): int(n) for r, n in conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY 1")
        }
        stored = int(scalar(conn, "SELECT count(*) FROM rain_readings"))
        pid_service = {pid: name for name, pid in pids.items()}
        return Sample(
            t=round(t, 1),
            rss=rss,
            fds=fds,
            pids=pids,
            conns=conns,
            lag_s=round(commit, 3),
            receive_delay_s=round(float(receive), 3),
            backlog=backlog,
            errors=self.log.read(pid_service),
            dead_letters=dead,
            stored=stored,
            load1=round(os.getloadavg()[0], 2),
        )


def growth_pct(points: list[tuple[float, float]]) -> float | None:
    """Growth over the window as a % of its start, from a least-squares line (one noisy sample
    at either end does not decide it)."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    start = my + slope * (xs[0] - mx)
    return round(100.0 * slope * (xs[-1] - xs[0]) / start, 2) if start > 0 else None


def edge_growth(values: list[int]) -> int:
    """The floor's growth: lowest of the window's last EDGE samples minus lowest of its first
    EDGE. A leak raises the floor; a descriptor or connection open at the moment of one sample
    (an HTTP fetch of the camera, a notifier's send) does not."""
    if not values:
        return 0
    k = min(EDGE, len(values))
    return int(min(values[-k:]) - min(values[:k]))


def conn_owner(application_name: str) -> str:
    """The service a connection belongs to, from its application_name (vigie.db's APP_*)."""
    for prefix, service in (
        ("vigie-ingest", "ingest"),
        ("vigie-alerts", "alerts"),
        ("vigie-notifier", "alerts"),
        ("vigie-cap", "alerts"),
        ("vigie-api", "api"),
        ("vigie-camera", "camera"),
        ("vigie-up", "up"),
    ):
        if application_name.startswith(prefix):
            return service
    return "autre (TimescaleDB…)"


def plot(samples: list[Sample], warmup_s: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mins = [s.t / 60 for s in samples]
    fig, axes = plt.subplots(3, 2, figsize=(12, 11), constrained_layout=True)
    fig.suptitle(title, fontsize=10)

    def series(ax: Any, key: str, names: list[str], scale: float, ylabel: str, ttl: str) -> None:
        for n in names:
            ax.plot(mins, [getattr(s, key).get(n, 0) / scale for s in samples], marker=".", label=n)
        ax.set_title(ttl)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)

    names = sorted({n for s in samples for n in s.rss})
    series(axes[0][0], "rss", names, 2**20, "MiB", "RSS par service")
    series(axes[0][1], "fds", names, 1, "fd", "Descripteurs ouverts par service")
    ax = axes[1][0]
    for svc in sorted({conn_owner(a) for s in samples for a in s.conns}):
        ax.plot(
            mins,
            [sum(n for a, n in s.conns.items() if conn_owner(a) == svc) for s in samples],
            marker=".",
            label=svc,
        )
    ax.set_title("Connexions à la base par service (pg_stat_activity)")
    ax.set_ylabel("connexions")
    ax.legend(fontsize=7)
    ax = axes[1][1]
    ax.plot(mins, [s.lag_s for s in samples], marker=".", label="retard d'ingestion (réception → commit)")
    ax.plot(
        mins,
        [s.receive_delay_s for s in samples],
        marker="x",
        linestyle=":",
        label="fin d'intervalle → réception (simulateur et broker compris)",
    )
    ax.axhline(LAG_TARGET_S, color="red", linestyle="--", label="cible 1 s (retard d'ingestion)")
    ax.set_title("Retard (max par intervalle) et charge de la machine")
    ax.set_ylabel("s")
    ax.legend(fontsize=7, loc="upper left")
    # The machine is shared: its load explains the lag more than the run does.
    load = ax.twinx()
    load.plot(mins, [s.load1 for s in samples], color="grey", linewidth=0.8, label="charge 1 min (2 cœurs)")
    load.set_ylabel("charge (load average 1 min)")
    load.legend(fontsize=7, loc="upper right")
    ax = axes[2][0]
    ax.plot(mins, [s.backlog for s in samples], marker=".", label="en attente / en cours")
    ax.set_title("File des notifications (deliveries)")
    ax.set_ylabel("livraisons")
    ax.legend(fontsize=7)
    ax = axes[2][1]
    ax.plot(mins, [sum(s.errors.values()) for s in samples], marker=".", label="lignes ERROR (cumul)")
    ax.plot(mins, [sum(s.dead_letters.values()) for s in samples], marker="x", label="lettres mortes (cumul)")
    ax.set_title("Erreurs")
    ax.legend(fontsize=7)
    for row in axes:
        for a in row:
            a.axvspan(0, warmup_s / 60, color="grey", alpha=0.15)
            a.set_xlabel("minutes (zone grise : mise en température)")
            a.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def api_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def vigie(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vigie.cli", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:  # one run, read top to bottom
    minutes = _env_float("SOAK_MINUTES", 60.0)
    sample_s = _env_float("SOAK_SAMPLE_S", 60.0)
    stations = int(_env_float("SOAK_STATIONS", 500))
    interval_s = int(_env_float("SOAK_INTERVAL_S", 10))
    plot_path = Path(os.environ.get("SOAK_PLOT", str(ROOT / "docs" / "soak.png")))
    duration_s = minutes * 60
    # Targets are judged on the last 45 minutes; a shorter run keeps its last three quarters.
    warmup_s = duration_s - 45 * 60 if duration_s >= 60 * 60 else duration_s / 4

    api_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    up: subprocess.Popen[bytes] | None = None
    sims: list[subprocess.Popen[bytes]] = []
    lag: LagPoller | None = None

    def stop_all() -> None:  # what this run started, before the sandbox goes
        if lag is not None:
            lag.stop.set()
        for s in sims:
            stop(s)
        stop(up, timeout=60)
        for p in procs:
            stop(p)

    with sandbox("soak", keep=os.environ.get("VIGIE_SOAK_KEEP") == "1") as box:
        box.exits.callback(stop_all)
        work, url, broker, smtp, sms = box.work, box.url, box.broker, box.smtp, box.sms
        env = {
            **box.env(),
            "VIGIE_API__PORT": str(api_port),
            "VIGIE_INGEST__CLIENT_ID": f"soak-ingest-{api_port}",
            "VIGIE_CAMERA__MEDIA_DIR": str(work / "media"),
            "VIGIE_LOG_FORMAT": "json",
            "VIGIE_LOG_LEVEL": "INFO",
        }
        box.add_mairies()
        for cam in range(2):
            port = free_port()
            procs.append(
                vigie(
                    [
                        "simulate",
                        "webcam",
                        "--serve",
                        "--port",
                        str(port),
                        "--width",
                        "640",
                        "--height",
                        "360",
                        "--minutes",
                        "10",
                        "--seed",
                        str(3 + cam),
                    ],
                    env,
                    work / f"webcam-{cam}.log",
                )
            )
            add = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "vigie.cli",
                    "camera",
                    "add",
                    f"soak-cam-{cam}",
                    "--url",
                    f"http://127.0.0.1:{port}/stream",
                    "--kind",
                    "mjpeg",
                    "--name",
                    f"Webcam {cam}",
                    "--lat",
                    "49.478",
                    "--lon",
                    str(2.917 + cam / 100),
                    "--habitat",
                    "forêt",
                ],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=False,
            )
            if add.returncode != 0:
                raise RuntimeError(f"vigie camera add: {add.stderr[-1000:]}")
        up = vigie(["up"], env, work / "up.log")
        wait_for(lambda: api_healthy(api_port), timeout=120, interval=0.5)
        # Each fleet's storm: the first over the first half of the run, the second over the second.
        per = stations // FLEETS
        sim_url = broker.url("vigie-simulator")
        for k in range(FLEETS):
            at_min = 2 + k * minutes / FLEETS
            sims.append(
                vigie(
                    [
                        "simulate",
                        "gauges",
                        "--stations",
                        str(per if k else stations - per * (FLEETS - 1)),
                        "--interval-s",
                        str(interval_s),
                        "--speed",
                        "1",
                        "--backfill-s",
                        "0",
                        "--storm",
                        "chicago",
                        "--return-period",
                        "50",
                        "--storm-at",
                        f"{at_min:g}",
                        "--storm-duration-min",
                        f"{min(15.0, max(6.0, minutes / (2 * FLEETS))):g}",
                        "--register",
                        "--prefix",
                        f"soak-{'ab'[k]}-",
                        "--mqtt-url",
                        sim_url,
                        "--truth",
                        str(work / f"truth-{k}.json"),
                        "--seed",
                        str(14 + k),
                    ],
                    env,
                    work / f"sim-{k}.log",
                )
            )
        t0 = time.monotonic()
        log = LogCounter(work / "up.log")
        samples: list[Sample] = []
        with psycopg.connect(url, autocommit=True, application_name="vigie-soak") as conn:
            lag = LagPoller(url).start()
            sampler = Sampler(conn, box.database, up.pid, log, lag)
            next_at = t0 + sample_s
            while True:
                time.sleep(max(0.0, next_at - time.monotonic()))
                for i, s in enumerate(sims):
                    if s.poll() is not None:
                        raise RuntimeError(
                            f"gauge simulator {i} exited: {(work / f'sim-{i}.log').read_text()[-2000:]}"
                        )
                if up.poll() is not None:
                    raise RuntimeError(f"vigie up exited: {(work / 'up.log').read_text()[-3000:]}")
                sample = sampler.take(time.monotonic() - t0)
                samples.append(sample)
                print(
                    json.dumps(
                        {
                            "t": sample.t,
                            "rss_mib": {k: round(v / 2**20, 1) for k, v in sample.rss.items()},
                            "fds": sample.fds,
                            "conns": sample.conns,
                            "lag_s": sample.lag_s,
                            "backlog": sample.backlog,
                            "errors": sample.errors,
                            "stored": sample.stored,
                            "load1": sample.load1,
                        }
                    ),
                    file=sys.stderr,
                    flush=True,
                )
                next_at += sample_s
                if next_at - t0 > duration_s + 0.5:
                    break
            elapsed = time.monotonic() - t0
            for s in sims:
                stop(s, timeout=60)
            sent: set[tuple[str, int]] = set()
            for k in range(FLEETS):
                truth = json.loads((work / f"truth-{k}.json").read_text())
                sent |= {
                    (sid, int(ts)) for sid, st in truth["stations"].items() for ts, _ in st.get("sent", [])
                }
            try:
                wait_for(
                    lambda: int(scalar(conn, "SELECT count(*) FROM rain_readings")) >= len(sent),
                    timeout=60,
                    interval=0.5,
                )
            except AssertionError:
                pass
            rows = {
                (str(sid), int(ts))
                for sid, ts in conn.execute(
                    "SELECT station_id, extract(epoch FROM ts)::bigint FROM rain_readings"
                )
            }
            n_rows = int(scalar(conn, "SELECT count(*) FROM rain_readings"))
            incidents = int(scalar(conn, "SELECT count(*) FROM incidents"))
            deliveries = {
                str(st): int(n) for st, n in conn.execute("SELECT state, count(*) FROM deliveries GROUP BY 1")
            }
            clips = int(scalar(conn, "SELECT count(*) FROM camera_events"))
        window = [s for s in samples if s.t >= warmup_s]
        names = sorted({n for s in window for n in s.rss})
        rss_growth = {n: growth_pct([(s.t, float(s.rss[n])) for s in window if n in s.rss]) for n in names}
        fd_growth = {n: edge_growth([s.fds[n] for s in window if n in s.fds]) for n in names}
        apps = sorted({a for s in window for a in s.conns} - {"vigie-soak"})
        conn_growth = {a: edge_growth([s.conns.get(a, 0) for s in window]) for a in apps}
        max_lag = max((s.lag_s for s in samples), default=None)
        last = samples[-1] if samples else None
        errors = dict(last.errors) if last else {}
        restarts = {n: len({s.pids.get(n) for s in samples if n in s.pids}) - 1 for n in names}
        checks = {
            "rss": all(g is not None and g < RSS_TARGET_PCT for g in rss_growth.values()) and bool(window),
            "fds": all(g <= 0 for g in fd_growth.values()),
            "connections": all(g <= 0 for g in conn_growth.values()),
            "lag": max_lag is not None and max_lag < LAG_TARGET_S,
        }
        loads = [s.load1 for s in samples]
        result = {
            "bench": "soak",
            "machine": f"{platform.node()} ({os.cpu_count()} cores, shared)",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(elapsed, 1),
            "samples": len(samples),
            "sample_s": sample_s,
            "warmup_s": round(warmup_s, 1),
            "gauges": stations,
            "interval_s": interval_s,
            "webcams": 2,
            "rss_mib_end": {n: round(last.rss.get(n, 0) / 2**20, 1) for n in names} if last else {},
            "rss_growth_pct": rss_growth,
            "fd_growth": fd_growth,
            "connection_growth": conn_growth,
            "connections_end": dict(last.conns) if last else {},
            "max_lag_s": max_lag,
            "max_receive_delay_s": max((s.receive_delay_s for s in samples), default=None),
            "lag_polls": lag.polls,
            "max_backlog": max((s.backlog for s in samples), default=None),
            "errors": sum(errors.values()),
            "errors_by_service": errors,
            "error_examples": log.examples,
            "dead_letters": dict(last.dead_letters) if last else {},
            "restarts": restarts,
            "readings_published": len(sent),
            "readings_stored": n_rows,
            "lost": len(sent - rows),
            "duplicated": max(0, n_rows - len(rows)) + len(rows - sent),
            "incidents": incidents,
            "deliveries": deliveries,
            "emails": len(smtp.messages),
            "sms": len(sms.messages),
            "camera_events": clips,
            "load1_min": min(loads, default=None),
            "load1_median": statistics.median(loads) if loads else None,
            "load1_max": max(loads, default=None),
            "targets": checks,
            "targets_met": all(checks.values()),
            "plot": str(plot_path.relative_to(ROOT)) if plot_path.is_relative_to(ROOT) else str(plot_path),
        }
        plot(
            samples,
            warmup_s,
            plot_path,
            f"make soak, {result['at']}: {stations} pluviomètres toutes les {interval_s} s, 2 webcams, "
            f"{minutes:g} min, charge médiane {result['load1_median']:.1f}",
        )
        (work / "samples.jsonl").write_text("".join(json.dumps(s.__dict__) + "\n" for s in samples))
        print(json.dumps(result))


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # Without this, SIGTERM ended the soak without its `finally`: `vigie up`, the simulators,
    # the broker, the database and the logins were left behind.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    main()
