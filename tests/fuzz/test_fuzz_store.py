"""Parse and store generated readings in the real database: nothing raises, nothing is lost.

Invariant, per generated write: every reading parse staged and every dead letter it made is
accounted for after the write (stored, a duplicate of a stored one, or a dead letter), no
exception leaves write_splitting, and nothing the contract accepts is refused by the database.
Values sit on the database's edges: counters near 2**62 (their differences overflowed `tips`),
the largest seq, rates just past the plausible, the oldest ts kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from psycopg import sql

from ingest.parse import parse_message
from ingest.refusals import write_splitting
from ingest.writer import prepare
from tests.factories import make_station
from tests.fuzz.invariants import check
from tests.fuzz.strategies import any_text, dumps, huge_numbers
from tests.support import create_database, db_url, drop_database
from vigie.settings import IngestSettings

STATION = "st-fuzz-store"
CFG = IngestSettings()
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def conn(template_db: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """One database for the whole module: hypothesis runs many examples in one test."""
    name = create_database(template=template_db)
    try:
        with psycopg.connect(db_url(name), autocommit=True) as admin:
            make_station(admin, STATION)
        with psycopg.connect(db_url(name)) as c:
            prepare(c)
            yield c
    finally:
        drop_database(name)


# Values the contract accepts, pushed to the database's edges.
valid_fields: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.sampled_from([0, 2**31, 2**62, 2**63 - 1]) | st.integers(0, 2**63 - 1),
    "tips": st.sampled_from([0, 1, 1_000_000]) | st.integers(0, 1_000_000),
    "counter": st.sampled_from([0, 2**31 - 1, 2**31, 2**62]) | st.integers(0, 2**62),
    "interval_s": st.sampled_from([1, 60, 86_400]) | st.integers(1, 86_400),
    "battery_v": st.floats(min_value=0, max_value=20),
    "rssi": st.integers(-200, 0),
    "fw": st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=32),
    "min_gap_ms": st.integers(0, 86_400_000),
    "station": st.just(STATION),
}
# …and, now and then, a value it refuses.
hostile_fields: dict[str, st.SearchStrategy[Any]] = {
    name: huge_numbers | any_text for name in valid_fields
}
when = st.one_of(
    st.integers(min_value=-400 * 86400 + 3600, max_value=240).map(
        lambda s: (NOW + timedelta(seconds=s)).isoformat()
    ),
    st.integers(min_value=-400 * 86400 - 100, max_value=600).map(
        lambda s: (NOW + timedelta(seconds=s)).timestamp()
    ),
    any_text,
)


@st.composite
def readings(draw: st.DrawFn) -> dict[str, Any]:
    """A reading that is mostly valid, with edge values and sometimes one hostile field."""
    doc: dict[str, Any] = {"ts": draw(when)}
    for name in draw(st.sets(st.sampled_from(sorted(valid_fields)))):
        doc[name] = draw(valid_fields[name])
    if "tips" not in doc and "counter" not in doc and draw(st.booleans()):
        doc["tips"] = draw(valid_fields["tips"])
    if draw(st.integers(0, 9)) == 0:
        name = draw(st.sampled_from(sorted(hostile_fields)))
        doc[name] = draw(hostile_fields[name])
    return doc


def _counter_series(counters: list[int]) -> bytes:
    start = NOW - timedelta(minutes=len(counters) + 1)
    return dumps(
        {
            "readings": [
                {"ts": (start + timedelta(minutes=i)).isoformat(), "counter": c, "interval_s": 60}
                for i, c in enumerate(counters)
            ]
        }
    )


messages = st.one_of(
    readings().map(dumps),
    st.lists(readings(), max_size=30).map(lambda rs: dumps({"readings": rs})),
    # Counter-only readings: tips are derived in SQL from consecutive counters (jumps, resets).
    st.lists(valid_fields["counter"], min_size=2, max_size=10).map(_counter_series),
)


@given(payloads=st.lists(messages, min_size=1, max_size=8))
def test_every_reading_is_stored_or_dead_lettered(
    conn: psycopg.Connection[tuple[object, ...]], payloads: list[bytes]
) -> None:
    topic = f"vigie/v1/gauges/{STATION}/up"
    with conn.transaction():  # each example from a clean slate, so a failure replays the same
        for table in ("rain_readings", "rain_5min", "rain_1h", "device_status", "dead_letters"):
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    parsed = [check(parse_message(topic, p, NOW, CFG, "vigie/v1")) for p in payloads]
    commits = write_splitting(conn, parsed, "fuzz", CFG.max_rate_mm_h)
    staged = sum(len(p.readings) for p in parsed)
    dead_in = sum(len(p.dead) for p in parsed)
    dead_out: Counter[str] = Counter()
    for c in commits:
        dead_out.update(c.stats.dead_letters)
    for reason in dead_out:
        event(reason)  # --hypothesis-show-statistics: which outcomes the examples reached
    stored = sum(c.stats.stored + c.stats.duplicates for c in commits)
    event("stored" if stored else "nothing stored")
    assert stored + sum(dead_out.values()) == staged + dead_in
    # The split keeps the service going, but in our own schema the edge and the database must
    # agree: a reading the contract accepts and the database refuses is a bug to fix.
    assert not dead_out.keys() & {"rejected_by_database", "internal_error"}, dead_out
    assert not conn.info.transaction_status  # idle: nothing left half-done
