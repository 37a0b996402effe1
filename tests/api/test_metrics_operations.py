"""/metrics beyond ingest: open incidents, the outbox, the gauges' activity, cameras, database size."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ADMIN
from tests.factories import make_station

Conn = psycopg.Connection[Any]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_operations_metrics_follow_the_database(client: TestClient, db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    make_station(db, "pimprez-ecole", commune="60492")
    # One station heard just now, the other never: one quiet.
    db.execute(
        "INSERT INTO device_status (station_id, last_seen, online) VALUES ('thourotte-mairie', now(), true)"
    )
    db.execute(
        "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, title, opened_at,"
        " updated_at, level_since, max_level) VALUES ('cumul', 'g', 'station', 'thourotte-mairie',"
        " 'orange', 't', now(), now(), now(), 'orange')"
    )
    sub = db.execute("INSERT INTO subscribers (name) VALUES ('Mairie') RETURNING id").fetchone()
    assert sub is not None
    for state in ("pending", "pending", "given_up"):
        db.execute(
            "INSERT INTO deliveries (subscriber_id, channel_index, channel_kind, group_key, state,"
            " created_at) VALUES (%s, 0, 'sms', 'g', %s, now() - interval '90 seconds')",
            (sub[0], state),
        )
    db.execute(
        "INSERT INTO cameras (id, name, source_url, source_kind) VALUES"
        " ('etang', 'Étang', 'http://192.0.2.1/s', 'mjpeg'),"
        " ('lisiere', 'Lisière', 'http://192.0.2.2/s', 'mjpeg')"
    )
    db.execute(
        "INSERT INTO camera_health (camera_id, state, fps_in, frames_dropped, disk_state) VALUES"
        " ('etang', 'online', 4.8, 12, 'ok')"
    )
    db.execute(
        "INSERT INTO camera_health (camera_id, state, fps_in, frames_dropped, disk_state, updated_at)"
        " VALUES ('lisiere', 'online', 5, 0, 'full', now() - interval '10 minutes')"
    )
    samples = _samples(client.get("/metrics", headers=ADMIN).text)

    assert samples[("vigie_incidents_open", (("level", "orange"),))] == 1
    assert samples[("vigie_incidents_open", (("level", "red"),))] == 0
    assert samples[("vigie_deliveries", (("state", "pending"),))] == 2
    assert samples[("vigie_deliveries", (("state", "given_up"),))] == 1
    assert samples[("vigie_outbox_oldest_pending_seconds", ())] >= 90
    assert samples[("vigie_stations", (("activity", "active"),))] == 2
    assert samples[("vigie_stations", (("activity", "online"),))] == 1
    assert samples[("vigie_stations", (("activity", "quiet"),))] == 1
    assert samples[("vigie_camera_up", (("camera", "etang"),))] == 1
    # Its worker said "online" ten minutes ago and nothing since: down.
    assert samples[("vigie_camera_up", (("camera", "lisiere"),))] == 0
    assert samples[("vigie_camera_disk_full", (("camera", "lisiere"),))] == 1
    assert samples[("vigie_camera_frames_dropped_total", (("camera", "etang"),))] == 12
    assert samples[("vigie_database_bytes", ())] > 1_000_000


def test_rules_and_dashboard_use_only_exported_metrics(client: TestClient, db: Conn) -> None:
    """deploy/prometheus and deploy/grafana name metrics that /metrics really serves (with one
    station, camera and ingest worker present, so that every labelled family has a sample)."""
    from psycopg.types.json import Jsonb

    from ingest.stats import BatchStats

    make_station(db, "thourotte-mairie")
    stats = BatchStats(messages=2, readings=1, stored=1, seconds=0.01)
    stats.dead_letters["malformed_json"] += 1
    db.execute("INSERT INTO ingest_metrics VALUES ('w1', now(), %s)", (Jsonb(stats.merge_into({})),))
    db.execute(
        "INSERT INTO cameras (id, name, source_url, source_kind)"
        " VALUES ('etang', 'É', 'http://192.0.2.1/', 'mjpeg')"
    )
    db.execute("INSERT INTO camera_health (camera_id, state) VALUES ('etang', 'online')")
    exported = {s[0] for s in _samples(client.get("/metrics", headers=ADMIN).text)}
    exported |= {n.removesuffix("_total") for n in exported}
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    for path in (deploy / "prometheus" / "vigie-rules.yml", deploy / "grafana" / "vigie.json"):
        named = set(re.findall(r"\bvigie_[a-z_]+", path.read_text()))
        assert named, path
        assert named <= exported, f"{path.name}: not exported: {sorted(named - exported)}"


def test_alert_rules_pass_promtool() -> None:
    tool = shutil.which("promtool")
    assert tool, "promtool missing: scripts/setup.sh installs Debian's prometheus"
    rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
    for args in (["check", "rules", "vigie-rules.yml"], ["test", "rules", "vigie-rules.test.yml"]):
        done = subprocess.run(
            [tool, *args], cwd=rules, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout + done.stderr
