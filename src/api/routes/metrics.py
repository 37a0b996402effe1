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

    def __init__(self, workers: list[dict[str, Any]], dead_letters_db: int) -> None:
        self.workers = workers
        self.dead_letters_db = dead_letters_db

    def _by_label(self, name: str, help_text: str, label: str, key: str) -> CounterMetricFamily:
        """A counter family from a {label value: count} map in each worker's counters, summed."""
        fam = CounterMetricFamily(name, help_text, labels=[label])
        totals: dict[str, float] = {}
        for w in self.workers:
            for value, n in w.get(key, {}).items():
                totals[value] = totals.get(value, 0) + n
        for value, n in sorted(totals.items()):
            fam.add_metric([value], n)
        return fam

    def collect(self) -> Iterator[Any]:
        for key, name, help_text in COUNTERS:
            fam = CounterMetricFamily(name, help_text)
            fam.add_metric([], float(sum(w.get(key, 0) for w in self.workers)))
            yield fam
        yield self._by_label(
            "vigie_ingest_dead_letters", "Rejected inputs by reason", "reason", "dead_letters"
        )
        yield self._by_label(
            "vigie_ingest_internal_errors",
            "Messages whose handling raised, by exception class (each is an internal_error dead letter)",
            "exception",
            "internal_errors",
        )
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


@router.get("/metrics", dependencies=[require(Role.ADMIN)])
async def metrics(pool: Pool) -> Response:
    """Prometheus exposition of ingest's counters."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT worker, counters FROM ingest_metrics")
        workers = [{**dict(c), "_worker": w} for w, c in await cur.fetchall()]
        cur = await conn.execute("SELECT count(*) FROM dead_letters")
        row = await cur.fetchone()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(workers, int(row[0]) if row else 0))
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")
