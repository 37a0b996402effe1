"""GET /metrics in the Prometheus text format, from the counters ingest commits with each batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from api.auth import Role, require
from api.deps import Pool
from api.queries import dead_letters, ingest_metrics
from vigie import heartbeat_queries
from vigie.heartbeat import LoopBeat

router = APIRouter()

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
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(workers, dead_letters_db, beats))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")
