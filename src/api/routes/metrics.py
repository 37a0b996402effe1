"""GET /metrics in the Prometheus text format: the counters ingest commits with each batch, and
the state of incidents, the outbox, the gauges and the cameras as the database holds it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from api.auth import Role, require
from api.deps import Pool
from api.queries import camera_health, database, dead_letters, deliveries, incidents, ingest_metrics
from vigie import heartbeat_queries, stations_queries
from vigie.heartbeat import LoopBeat
from vigie.levels import LEVELS

router = APIRouter()

# Every state a delivery row can take (migration 140's CHECK), so each series always exists.
DELIVERY_STATES = ("pending", "sending", "accepted", "refused", "given_up")
# A camera whose last health report is older than this is down, whatever state it last said
# (its worker reports every camera.health_interval_s, 10 s by default).
CAMERA_STALE_S = 60.0

# (counter key in ingest_metrics.counters, metric name, help)
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("messages", "vigie_ingest_messages_received", "MQTT messages received by ingest"),
    ("readings", "vigie_ingest_readings_received", "Readings parsed from messages"),
    ("stored", "vigie_ingest_readings_stored", "Readings committed to rain_readings"),
    ("duplicates", "vigie_ingest_duplicates", "Exact duplicates dropped (already stored)"),
    ("batches", "vigie_ingest_batches", "Batches committed"),
    (
        "ignored_retained",
        "vigie_ingest_retained_status_ignored",
        "Retained status messages of unknown stations, replayed by the broker and ignored",
    ),
)


class _Snapshot(Collector):
    """Turns summed per-worker counters into metric families for one scrape."""

    def __init__(
        self, workers: list[dict[str, Any]], dead_letters_db: int, beats: list[LoopBeat] | None = None
    ) -> None:
        self.workers = workers
        self.dead_letters_db = dead_letters_db
        self.beats = beats or []

    def collect(self) -> Iterator[Any]:
        for key, name, help_text in COUNTERS:
            fam = CounterMetricFamily(name, help_text)
            fam.add_metric([], float(sum(w.get(key, 0) for w in self.workers)))
            yield fam
        dead = CounterMetricFamily(
            "vigie_ingest_dead_letters", "Rejected inputs by reason", labels=["reason"]
        )
        reasons: dict[str, float] = {}
        for w in self.workers:
            for reason, n in w.get("dead_letters", {}).items():
                reasons[reason] = reasons.get(reason, 0) + n
        for reason, n in sorted(reasons.items()):
            dead.add_metric([reason], n)
        yield dead
        hist = HistogramMetricFamily("vigie_ingest_batch_seconds", "Batch commit latency")
        buckets: dict[str, float] = {}
        total = 0.0
        for w in self.workers:
            for le, n in w.get("batch_seconds_buckets", {}).items():
                buckets[le] = buckets.get(le, 0) + n
            total += w.get("batch_seconds_sum", 0.0)
        ordered = sorted(buckets.items(), key=lambda kv: float(kv[0]))
        if ordered:
            hist.add_metric([], [(le, n) for le, n in ordered], total)
            yield hist
        lag = GaugeMetricFamily(
            "vigie_ingest_lag_seconds",
            "Receive-to-commit delay of the oldest message of the last batch",
            labels=["worker"],
        )
        for w in self.workers:
            lag.add_metric([str(w["_worker"])], float(w.get("lag_s", 0.0)))
        yield lag
        stored = GaugeMetricFamily("vigie_dead_letters_rows", "Rows in the dead-letter table")
        stored.add_metric([], float(self.dead_letters_db))
        yield stored
        yield from _loop_families(self.beats)


def _loop_families(beats: list[LoopBeat]) -> Iterator[GaugeMetricFamily]:
    labels = ["service", "loop", "instance"]
    age = GaugeMetricFamily(
        "vigie_loop_heartbeat_age_seconds", "Seconds since the work loop's last heartbeat", labels=labels
    )
    limit = GaugeMetricFamily(
        "vigie_loop_max_interval_seconds", "The loop's own limit: older means stalled", labels=labels
    )
    stalled = GaugeMetricFamily("vigie_loop_stalled", "1 when the loop is stalled", labels=labels)
    for b in beats:
        values = [b.service, b.loop, f"{b.host}:{b.pid}"]
        age.add_metric(values, b.age_s)
        limit.add_metric(values, b.max_interval_s)
        stalled.add_metric(values, 1.0 if b.stalled else 0.0)
    yield age
    yield limit
    yield stalled


class _Operations(Collector):
    """The rest of the system as the database sees it: incidents, the notifier's outbox, the
    gauges' activity, the cameras, the database's size (what deploy/prometheus alerts on)."""

    def __init__(self, snap: dict[str, Any]) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Any]:
        s = self.snap
        inc = GaugeMetricFamily("vigie_incidents_open", "Open incidents by level", labels=["level"])
        for level in LEVELS:
            inc.add_metric([level], float(s["incidents"].get(level, 0)))
        yield inc
        out = GaugeMetricFamily("vigie_deliveries", "Notifier deliveries by state", labels=["state"])
        for state in DELIVERY_STATES:
            out.add_metric([state], float(s["deliveries"].get(state, 0)))
        yield out
        yield GaugeMetricFamily(
            "vigie_outbox_oldest_pending_seconds",
            "Age of the oldest delivery due and not yet sent",
            value=s["oldest_pending_s"],
        )
        st = GaugeMetricFamily("vigie_stations", "Active stations by activity", labels=["activity"])
        for key, value in s["stations"].items():
            st.add_metric([key], float(value))
        yield st
        up = GaugeMetricFamily(
            "vigie_camera_up", "1 when the camera reports online recently", labels=["camera"]
        )
        fps = GaugeMetricFamily("vigie_camera_fps", "Frames per second received", labels=["camera"])
        drops = CounterMetricFamily("vigie_camera_frames_dropped", "Frames dropped", labels=["camera"])
        full = GaugeMetricFamily("vigie_camera_disk_full", "1 when the camera stopped recording: disk full",
                                 labels=["camera"])
        for cam in s["cameras"]:
            cid = str(cam["camera_id"])
            fresh = cam["report_age_s"] is not None and float(cam["report_age_s"]) < CAMERA_STALE_S
            up.add_metric([cid], 1.0 if fresh and cam["state"] == "online" else 0.0)
            fps.add_metric([cid], float(cam["fps_in"] or 0.0))
            drops.add_metric([cid], float(cam["frames_dropped"] or 0))
            full.add_metric([cid], 1.0 if cam["disk_state"] == "full" else 0.0)
        yield from (up, fps, drops, full)
        yield GaugeMetricFamily("vigie_database_bytes", "Size of the database on disk", value=s["db_bytes"])


@router.get(
    "/metrics",
    dependencies=[require(Role.ADMIN)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Format texte de Prometheus"}},
)
async def metrics(pool: Pool) -> Response:
    """Prometheus exposition of ingest's counters and of every work loop's heartbeat."""
    async with pool.connection() as conn:
        workers = [{**c, "_worker": w} for w, c in await ingest_metrics.workers(conn)]
        dead_letters_db = await dead_letters.count(conn)
        beats = await heartbeat_queries.read_all(conn)
        ops = {
            "incidents": await incidents.open_by_level(conn),
            "deliveries": await deliveries.counts_by_state(conn),
            "oldest_pending_s": await deliveries.oldest_pending_age_s(conn),
            "stations": await stations_queries.activity_counts(conn),
            "cameras": await camera_health.all_cameras(conn),
            "db_bytes": await database.size_bytes(conn),
        }
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(workers, dead_letters_db, beats))
    registry.register(_Operations(ops))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")
