"""Retention of raw readings (drop_chunks) and dead letters, rollups kept longer; and the past
chunks of raw readings rewritten in station order (vigie_cluster_raw_chunks, migration 460)."""

from __future__ import annotations

import logging
import time

from vigie.db import APP_INGEST, connect

log = logging.getLogger(__name__)

# Any fixed key: with several ingest workers, one of them runs the job at a time.
_LOCK = 0x76696769_65000002


def apply_retention(database_url: str, raw_days: int, dead_letter_days: int) -> int:
    """Drop raw-reading chunks older than raw_days; return how many chunks were dropped."""
    with connect(database_url, application_name=APP_INGEST, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,)).fetchone()
        if not row or not row[0]:
            return 0
        try:
            # drop_chunks needs the table's owner; this function runs as the owner and can only
            # drop raw-reading chunks (090_roles.sql), so ingest needs no ownership.
            dropped = conn.execute(
                "SELECT vigie_drop_raw_chunks(make_interval(days => %s))", (raw_days,)
            ).fetchall()
            conn.execute(
                "DELETE FROM dead_letters WHERE received_at < now() - make_interval(days => %s)",
                (dead_letter_days,),
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    if dropped:
        log.info("retention: dropped %d raw chunk(s) older than %d days", len(dropped), raw_days)
    return len(dropped)


# A chunk is rewritten once no reading is expected in it any more, apart from late ones.
CLUSTER_AFTER_H = 24


def cluster_past_chunks(database_url: str, budget_s: float = 300.0) -> int:
    """Rewrite the past raw-reading chunks not yet in (station_id, ts) order, one per transaction
    (each holds its chunk locked while it runs, well under a second for a day of 50 gauges),
    until none is left or `budget_s` has passed; return how many were rewritten."""
    done = 0
    with connect(database_url, application_name=APP_INGEST, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,)).fetchone()
        if not row or not row[0]:
            return 0
        try:
            deadline = time.monotonic() + budget_s
            while time.monotonic() < deadline:
                rewritten = conn.execute(
                    "SELECT vigie_cluster_raw_chunks(make_interval(hours => %s), 1)", (CLUSTER_AFTER_H,)
                ).fetchall()
                if not rewritten:
                    break
                done += len(rewritten)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    if done:
        log.info("retention: %d past raw chunk(s) rewritten in station order", done)
    return done
