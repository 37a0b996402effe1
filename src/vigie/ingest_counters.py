"""The keys of `ingest_metrics.counters`: ingest writes them with each batch, the API's /metrics
reads them. One list, so a counter renamed on one side cannot silently read as zero on the other."""

from __future__ import annotations

# Plain counts added per batch: (key, Prometheus name without _total, help).
COUNTS: tuple[tuple[str, str, str], ...] = (
    ("messages", "vigie_ingest_messages_received", "MQTT messages received by ingest"),
    ("readings", "vigie_ingest_readings_received", "Readings parsed from messages"),
    ("stored", "vigie_ingest_readings_stored", "Readings committed to rain_readings"),
    ("duplicates", "vigie_ingest_duplicates", "Exact duplicates dropped (already stored)"),
    (
        "ignored_retained",
        "vigie_ingest_retained_status_ignored",
        "Retained status messages of unknown stations, replayed by the broker and ignored",
    ),
)
BATCHES = "batches"  # one per committed batch
DEAD_LETTERS = "dead_letters"  # {reason: count}
INTERNAL_ERRORS = "internal_errors"  # {exception class: count}
BATCH_SECONDS_BUCKETS = "batch_seconds_buckets"  # {le: count}, cumulative histogram buckets
BATCH_SECONDS_SUM = "batch_seconds_sum"
LAG_S = "lag_s"  # receive-to-commit delay of the last batch's oldest message (a gauge)
