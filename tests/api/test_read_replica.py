"""The API on a streaming read replica (issue 14 §6): a private TimescaleDB primary, a replica of
it made by scripts/replica.sh (pg_basebackup, streaming through a slot), real ingest writing
readings that a gauge publishes over MQTT, and `vigie api` as a process reading series, exports,
the map and the live stream's catch-up from the replica, while writes and read-after-write go
to the primary.

Replay is paused on the replica to tell the two apart: readings stored on the primary meanwhile
are invisible to the replica's paths and visible to the primary's."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.conftest import ADMIN, ADMIN_TOKEN
from tests.factories import make_user
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, free_port, running, wait_for
from vigie import provisioning
from vigie.logins import ensure_logins
from vigie.migrate import migrate
from vigie.stations import StationIn

ROOT = Path(__file__).resolve().parents[2]
PG_ROOT = os.environ.get("VIGIE_PG_ROOT", "/var/lib/vigie/trixie")
PREFIX = "vigie_replica_t_"
Db = psycopg.Connection[tuple[object, ...]]


def _inside_root(path: str) -> str:
    """Where a path of the Debian 13 root is on this host (the root is / on Debian 13)."""
    return path if "trixie" in Path("/etc/os-release").read_text() else f"{PG_ROOT}{path}"


@dataclass(frozen=True)
class Pair:
    primary: str  # the migration login's URL of the primary's vigie database
    replica: str  # the same on the replica
    replica_bare: str  # the replica's URL with no login: the API takes its own
    credentials: Path
    replica_env: dict[str, str]


def _count(conn: Db, query: str, params: tuple[object, ...] = ()) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(str(row[0]))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    if os.geteuid() != 0 or not (Path(_inside_root("/usr/lib/postgresql/17/bin")) / "pg_basebackup").exists():
        pytest.skip(
            "a replica needs root (chroot) and PostgreSQL 17 in the Debian 13 root (scripts/timescaledb.sh)"
        )
    tag = uuid.uuid4().hex[:8]
    p_port, r_port = free_port(), free_port()
    p_data, r_data = f"/var/lib/vigie-pg/rp-{tag}", f"/var/lib/vigie-pg/rr-{tag}"
    p_env = {**os.environ, "VIGIE_PG_PORT": str(p_port), "VIGIE_PG_DATA": p_data}
    r_env = {**p_env, "VIGIE_REPLICA_PORT": str(r_port), "VIGIE_REPLICA_DATA": r_data}

    def script(name: str, action: str, env: dict[str, str]) -> None:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / name), action],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    try:
        script("timescaledb.sh", "start", p_env)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{p_port}/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE vigie")
        primary = f"postgresql://postgres@127.0.0.1:{p_port}/vigie"
        migrate(primary)
        credentials = tmp_path / "db-credentials.env"
        ensure_logins(primary, credentials, PREFIX)
        # Made after the schema and the logins: the copy carries both, as a replica made of a
        # running site does.
        script("replica.sh", "start", r_env)
        yield Pair(
            primary,
            f"postgresql://postgres@127.0.0.1:{r_port}/vigie",
            f"postgresql://127.0.0.1:{r_port}/vigie",
            credentials,
            r_env,
        )
    finally:
        script("replica.sh", "drop", r_env)
        script("timescaledb.sh", "stop", p_env)
        for path in (p_data, f"{p_data}.log"):
            shutil.rmtree(_inside_root(path), ignore_errors=True)
            Path(_inside_root(path)).unlink(missing_ok=True)


def _sse_readings(base: str, station: str, last_id: str, want: int) -> list[dict[str, object]]:
    """The reading events of a live stream resumed from last_id, until `want` have come."""
    got: list[dict[str, object]] = []
    headers = {**ADMIN, "Last-Event-ID": last_id}
    with httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(30, read=25)) as http:
        with http.stream("GET", "/api/v1/live", params={"station": station}) as r:
            assert r.status_code == 200, r.read()
            fields: dict[str, str] = {}
            for line in r.iter_lines():
                if line == "":
                    if fields.get("event") == "reading":
                        got.append(json.loads(fields["data"]))
                        if len(got) == want:
                            return got
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
    raise AssertionError(f"stream ended after {len(got)} readings")


def test_api_reads_from_the_replica_and_writes_to_the_primary(
    pair: Pair, broker: Broker, tmp_path: Path
) -> None:
    first, later = 40, 15
    sid = f"rep-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pair.primary, autocommit=True) as p:
        creds = provisioning.provision_station(
            p,
            StationIn(id=sid, name="Mairie", commune_insee="60636", lat=49.47, lon=2.88, tip_mm=0.2),
            broker.directory,
        )
        make_user(p, "admin", ["admin"], token=ADMIN_TOKEN)
    logins = {
        "VIGIE_DATABASE_URL": pair.primary,
        "VIGIE_DATABASE_CREDENTIALS_FILE": str(pair.credentials),
        "VIGIE_DATABASE_LOGIN_PREFIX": PREFIX,
        "VIGIE_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    tag = uuid.uuid4().hex[:8]
    ingest = Service(
        ["ingest"],
        {
            **logins,
            "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
            "VIGIE_INGEST__CLIENT_ID": f"rep-{tag}",
            "VIGIE_INGEST__SHARE_GROUP": f"rep-{tag}",
        },
        tmp_path / "ingest.log",
    )
    port = free_port()
    api = Service(
        ["api"],
        {
            **logins,
            "VIGIE_MQTT_URL": broker.url("vigie-api"),
            "VIGIE_API__PORT": str(port),
            # No login in the URL: the API puts its own in, as for the primary.
            "VIGIE_API__READ_DATABASE_URL": pair.replica_bare,
        },
        tmp_path / "api.log",
    )
    base = f"http://127.0.0.1:{port}"
    device = f"mqtt://{sid}:{creds.password}@127.0.0.1:{broker.devices_port}"
    start = minute(0).isoformat()
    end = minute(first + later + 1).isoformat()
    with (
        psycopg.connect(pair.primary, autocommit=True) as p,
        psycopg.connect(pair.replica, autocommit=True) as r,
        running(ingest, ready="subscribed to"),
        running(api),
        publisher(device) as gauge,
        httpx.Client(base_url=base, headers=ADMIN, timeout=30) as http,
    ):
        wait_for(lambda: _healthy(http), timeout=60, interval=0.2)
        assert _count(r, "SELECT count(*)::int FROM pg_stat_wal_receiver WHERE status = 'streaming'") == 1
        assert set(
            gauge.publish_many(
                [(topic(sid), reading(i, minute(i), tips=_tips(i))) for i in range(1, first + 1)]
            )
        ) == {0}
        q = "SELECT count(*) FROM rain_readings WHERE station_id = %s"
        wait_for(lambda: _count(p, q, (sid,)) == first, timeout=30)
        wait_for(lambda: _count(r, q, (sid,)) == first, timeout=30)

        # Paused replay: what ingest stores now reaches the primary only.
        r.execute("SELECT pg_wal_replay_pause()")
        wait_for(lambda: r.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == ("paused",))
        msgs = [
            (topic(sid), reading(i, minute(i), tips=_tips(i))) for i in range(first + 1, first + later + 1)
        ]
        assert set(gauge.publish_many(msgs)) == {0}
        wait_for(lambda: _count(p, q, (sid,)) == first + later, timeout=30)
        assert _count(r, q, (sid,)) == first

        # The read-only paths answer from the replica: the first `first` readings, each once.
        rows = http.get(f"/api/v1/stations/{sid}/readings", params={"limit": 5000}).json()
        assert sorted(int(str(x["seq"])) for x in rows) == list(range(1, first + 1))
        series = http.get(f"/api/v1/stations/{sid}/series", params={"from": start, "to": end, "step": "5min"})
        assert series.status_code == 200, series.text
        assert series.json()["total_mm"] == pytest.approx(0.2 * sum(_tips(i) for i in range(1, first + 1)))
        exported = http.get(f"/api/v1/stations/{sid}/export.csv", params={"from": start, "to": end})
        assert exported.status_code == 200, exported.text
        lines = list(csv.reader(io.StringIO(exported.text), delimiter=";"))
        assert len(lines) == 1 + first  # the header, then one line per reading
        state = httpx.get(f"{base}/vigilance/etat.json", timeout=30)
        assert state.status_code == 200 and state.json()["communes"]
        # Every reading the API made on the replica came from its own pool, as its own login.
        apps = r.execute(
            "SELECT DISTINCT application_name, usename FROM pg_stat_activity WHERE datname = 'vigie'"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchall()
        assert apps == [("vigie-api-read", f"{PREFIX}api")]

        # A write route goes to the primary (the replica would refuse it: read-only), and the
        # read after it too: the new subscriber is found while the replica cannot have it.
        made = http.post(
            "/api/v1/subscribers",
            json={"name": "Mairie (réplica)", "communes": ["60636"], "min_level": "orange", "channels": []},
        )
        assert made.status_code == 201, made.text
        got = http.get(f"/api/v1/subscribers/{made.json()['id']}")
        assert got.status_code == 200 and got.json()["name"] == "Mairie (réplica)"
        by_name = "SELECT count(*) FROM subscribers WHERE name = 'Mairie (réplica)'"
        assert (_count(p, by_name), _count(r, by_name)) == (1, 0)

        # The live stream resumed from the very start: its catch-up reads the replica, then the
        # primary at once for what the replica has not replayed: every reading exactly once.
        streamed = _sse_readings(base, sid, "0..0.0.0", first + later)
        assert sorted(str(e["ts"])[:16] for e in streamed) == [
            minute(i).isoformat()[:16] for i in range(1, first + later + 1)
        ]

        # Replay resumed: the replica catches up and the API's reads show every reading once.
        r.execute("SELECT pg_wal_replay_resume()")
        wait_for(lambda: _count(r, q, (sid,)) == first + later, timeout=30)
        rows = http.get(f"/api/v1/stations/{sid}/readings", params={"limit": 5000}).json()
        assert sorted(int(str(x["seq"])) for x in rows) == list(range(1, first + later + 1))
        assert _count(p, "SELECT sum(readings) FROM rain_5min WHERE station_id = %s", (sid,)) == first + later
    assert "Traceback" not in api.log(), api.log()[-3000:]


def _tips(seq: int) -> int:
    return 1 + seq % 3


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def test_replica_sh_status_and_a_paused_replay(pair: Pair) -> None:
    """The operator's check (docs/operations.md): `replica.sh status` says streaming and that the
    replica is a standby; a paused replay leaves the primary's writes out until resumed."""
    with (
        psycopg.connect(pair.primary, autocommit=True) as p,
        psycopg.connect(pair.replica, autocommit=True) as r,
    ):
        p.execute("CREATE TABLE replica_probe (at timestamptz)")
        wait_for(lambda: r.execute("SELECT to_regclass('replica_probe')").fetchone() != (None,), timeout=30)
        r.execute("SELECT pg_wal_replay_pause()")
        p.execute("INSERT INTO replica_probe VALUES (%s)", (datetime.now(UTC) - timedelta(seconds=1),))
        assert _count(r, "SELECT count(*) FROM replica_probe") == 0
        r.execute("SELECT pg_wal_replay_resume()")
        wait_for(lambda: _count(r, "SELECT count(*) FROM replica_probe") == 1, timeout=30)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "replica.sh"), "status"],
        env=pair.replica_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "|streaming|async|" in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1].startswith("t|"), done.stdout  # in recovery: a standby
