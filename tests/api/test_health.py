"""/healthz and /metrics show a stalled work loop (which service, which loop, how old)."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN
from vigie.heartbeat import HeartbeatReporter


def test_a_stalled_loop_turns_healthz_degraded_and_shows_in_metrics(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]], database_url: str
) -> None:
    # Heartbeats written by the real reporter, as a service would: "writer" keeps beating,
    # "mqtt" last beat long ago for its 0.5 s limit.
    reporter = HeartbeatReporter(database_url, "ingest", report_s=60, host="gauges-1", pid=4242)
    writer = reporter.register("writer", 60)
    reporter.register("mqtt", 0.5)
    db.execute("SELECT pg_sleep(0.7)")
    writer.beat()
    reporter.report_once()

    r = client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded" and body["database"] and body["broker"]
    assert body["stalled"] == 1
    by_loop = {(lp["service"], lp["loop"]): lp for lp in body["loops"]}
    assert by_loop[("ingest", "mqtt")]["stalled"] is True
    assert by_loop[("ingest", "mqtt")]["age_s"] >= 0.7
    assert by_loop[("ingest", "writer")]["stalled"] is False
    # The public page names the loop, not the machine or the process.
    assert "gauges-1" not in r.text and "4242" not in r.text

    text = client.get("/metrics", headers=ADMIN).text
    labels = 'instance="gauges-1:4242",loop="{}",service="ingest"'
    assert "vigie_loop_stalled{" + labels.format("mqtt") + "} 1.0" in text
    assert "vigie_loop_stalled{" + labels.format("writer") + "} 0.0" in text
    assert "vigie_loop_max_interval_seconds{" + labels.format("mqtt") + "} 0.5" in text
    assert "vigie_loop_heartbeat_age_seconds{" in text

    # The loop beats again: healthy.
    reporter.register("mqtt", 0.5)
    reporter.report_once()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["stalled"] == 0
    reporter.stop()
    assert client.get("/healthz").json()["loops"] == []
