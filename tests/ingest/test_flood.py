"""A device that floods is dead-lettered in aggregate: one row per device and minute, with a
count and the first few payloads; the other devices are stored as usual."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from ingest.flood import FloodGate
from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.support import Broker, Service, running, wait_for
from vigie.settings import FloodLimit

READY = "subscribed to"


def test_bucket_allows_a_burst_then_the_rate_and_forgets_refilled_devices() -> None:
    now = [0.0]
    gate = FloodGate(FloodLimit(max_per_minute=60, burst=3), "vigie/v1", clock=lambda: now[0])
    assert [gate.admit("a") for _ in range(4)] == [True, True, True, False]
    assert gate.admit("b")  # one device's flood does not touch another's bucket
    now[0] += 1.0  # 60/min: one token a second
    assert gate.admit("a") and not gate.admit("a")
    now[0] += 120.0
    gate.admit("c")  # triggers the prune: a and b have refilled, so they are forgotten
    assert set(gate._buckets) == {"c"}
    t = datetime(2026, 12, 1, 10, 7, 42, 5, tzinfo=UTC)
    gate2 = FloodGate(FloodLimit(max_per_minute=1, burst=1, keep_payloads=2), "vigie/v1", clock=lambda: 0.0)
    assert gate2.check("vigie/v1/gauges/st-a/up", b"x", t) is None
    over = gate2.check("vigie/v1/gauges/st-a/status", b"y" * 5000, t)  # same device, other topic
    assert over is not None and len(over.flooded) == 1
    f = over.flooded[0]
    assert (f.key, f.station_id, f.size, len(f.payload), f.minute.second) == ("st-a", "st-a", 5000, 4096, 0)


def test_flooding_device_is_one_row_per_minute_and_does_not_starve_the_others(
    db: psycopg.Connection[tuple[object, ...]], broker: Broker, make_ingest: Callable[..., Service]
) -> None:
    flooder, neighbour = make_station(db).id, make_station(db).id
    sent = 150
    ingest = make_ingest(
        VIGIE_INGEST__FLOOD__MAX_PER_MINUTE="6",
        VIGIE_INGEST__FLOOD__BURST="12",  # the neighbour's 11 messages fit
        VIGIE_INGEST__FLOOD__KEEP_PAYLOADS="5",
    )
    with (
        running(ingest, ready=READY),
        publisher(broker.add_device(flooder)) as bad,
        publisher(broker.add_device(neighbour)) as good,
    ):
        started = time.monotonic()
        for k in range(10):
            burst = [(topic(flooder), reading(i, minute(i))) for i in range(k * 15, k * 15 + 15)]
            assert set(bad.publish_many(burst)) == {0}
            assert good.publish(topic(neighbour), reading(k, minute(k))) == 0

        def settled() -> bool:
            return _stored(db, neighbour) == 10 and (
                _stored(db, flooder) + _one(db, "SELECT coalesce(sum(messages), 0) FROM dead_letters") == sent
            )

        wait_for(settled, timeout=30)
        elapsed = time.monotonic() - started
        assert good.publish(topic(neighbour), reading(99, minute(99))) == 0  # still storing
        wait_for(lambda: _stored(db, neighbour) == 11, timeout=15)
        assert ingest.proc is not None and ingest.proc.poll() is None
    stored = _stored(db, flooder)
    # The burst, plus what 6/min refilled while the test ran.
    assert 12 <= stored <= 12 + math.ceil(elapsed / 10) + 1
    rows = db.execute(
        "SELECT reason, flood_key, station_id, messages, payloads, payload_size FROM dead_letters"
    ).fetchall()
    assert 1 <= len(rows) <= 2  # one per minute the flood spanned, not one per message
    assert {(r[0], r[1], r[2]) for r in rows} == {("too_many_messages", flooder, flooder)}
    excess = sum(int(str(r[3])) for r in rows)
    assert excess == sent - stored
    for row in rows:
        kept = row[4]
        assert isinstance(kept, list) and 1 <= len(kept) <= 5
        seqs = [json.loads(p)["seq"] for p in kept]  # whole payloads, ready to replay
        assert seqs == sorted(seqs) and all(stored <= s < sent for s in seqs)
    seqs_stored = {
        int(str(r[0]))
        for r in db.execute("SELECT seq FROM rain_readings WHERE station_id = %s", (flooder,)).fetchall()
    }
    excess_bytes = sum(len(reading(i, minute(i))) for i in range(sent) if i not in seqs_stored)
    assert sum(int(str(r[5])) for r in rows) == excess_bytes  # every excess byte is counted
    counted = _one(db, "SELECT (counters->'dead_letters'->>'too_many_messages')::int FROM ingest_metrics")
    assert counted == excess


def _one(db: psycopg.Connection[tuple[object, ...]], query: str) -> int:
    row = db.execute(query).fetchone()
    return int(str(row[0])) if row else 0


def _stored(db: psycopg.Connection[tuple[object, ...]], station: str) -> int:
    row = db.execute("SELECT count(*) FROM rain_readings WHERE station_id = %s", (station,)).fetchone()
    return int(str(row[0])) if row else 0
