"""A batch the database refuses is split until the refused rows are found; the rest is stored.

How the database is made to refuse a row that passes parsing: a CHECK constraint added to this
test's own database (`battery_v <> 13.5`). It stands for every rule the database holds and the
edge does not know: a constraint added by a later migration, a trigger, or a value PostgreSQL's
types refuse (the NUL in `fw` of issue 13, which text refuses in COPY). The NUL case itself is
also driven here, with the edge check bypassed, to show the writer no longer loops on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from ingest.contract import Reading
from ingest.parse import Parsed, Staged, parse_message
from ingest.refusals import refused_by_data, write_splitting
from ingest.writer import prepare
from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from vigie.settings import IngestSettings

REFUSED_BATTERY = 13.5  # exact in float4 and float8: the constraint sees the value we sent
CFG = IngestSettings(raw_retention_days=3650)


def _refuse_battery(db: psycopg.Connection[tuple[object, ...]]) -> None:
    db.execute(
        f"ALTER TABLE rain_readings ADD CONSTRAINT test_refused_battery"  # a constant
        f" CHECK (battery_v IS NULL OR battery_v <> {REFUSED_BATTERY})"
    )


def _parsed(station: str, payload: str) -> Parsed:
    return parse_message(topic(station), payload.encode(), datetime.now(UTC), CFG, "vigie/v1")


def _one(db: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = db.execute(query).fetchone()
    return row[0] if row else None


def _good_and_past_the_edge(station: str, fw: str) -> list[Parsed]:
    """A good message, and one whose fw the edge would refuse, put past it (model_construct)."""
    good = _parsed(station, reading(1, minute(1)))
    bad = _parsed(station, reading(2, minute(2)))
    r = bad.readings[0]
    forced = Reading.model_construct(**{**r.reading.model_dump(), "fw": fw})
    bad.readings[0] = Staged(r.topic, r.station_id, r.dev_eui, forced, r.flags, r.received_at, r.live)
    return [good, bad]


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A writer's connection (not autocommit), with its staging table."""
    with psycopg.connect(database_url) as c:
        prepare(c)
        yield c


def test_refused_row_inside_a_batch_is_dead_lettered_and_the_rest_stored(
    db: psycopg.Connection[tuple[object, ...]], conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    _refuse_battery(db)
    # 40 messages in one write; message 17 is a store-and-forward batch whose 2nd reading the
    # database refuses; its 1st and 3rd readings are good.
    parsed = [_parsed(st, reading(i, minute(i))) for i in range(40)]
    batch = {
        "readings": [
            json.loads(reading(100, minute(100))),
            json.loads(reading(101, minute(101), battery_v=REFUSED_BATTERY)),
            json.loads(reading(102, minute(102))),
        ]
    }
    parsed[17] = _parsed(st, json.dumps(batch))
    assert len(parsed[17].readings) == 3  # it passed parsing: only the database refuses it
    commits = write_splitting(conn, parsed, "w-test", 500.0)
    assert len(commits) > 2  # it really was split
    assert _one(db, "SELECT count(*) FROM rain_readings") == 39 + 2
    assert _one(db, "SELECT count(*) FROM rain_readings WHERE battery_v = 13.5") == 0
    rows = db.execute("SELECT reason, detail, station_id, payload FROM dead_letters").fetchall()
    assert len(rows) == 1
    reason, detail, station, payload = rows[0]
    assert (reason, station) == ("rejected_by_database", st)
    assert "23514" in str(detail) and "test_refused_battery" in str(detail)  # check_violation
    assert isinstance(payload, bytes)
    assert json.loads(payload)["battery_v"] == REFUSED_BATTERY  # the reading is kept
    counters = _one(db, "SELECT counters FROM ingest_metrics")
    assert isinstance(counters, dict)
    assert counters["messages"] == 40  # counted once, not once per part
    assert counters["stored"] == 41
    assert counters["dead_letters"] == {"rejected_by_database": 1}


def test_nul_in_fw_past_the_edge_is_rejected_not_retried_for_ever(
    db: psycopg.Connection[tuple[object, ...]], conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    """Issue 13's second defect, with the new edge check bypassed (model_construct)."""
    write_splitting(conn, _good_and_past_the_edge(make_station(db).id, "1.4\x00"), "w-test", 500.0)
    assert _one(db, "SELECT count(*) FROM rain_readings") == 1
    row = db.execute("SELECT reason, detail FROM dead_letters").fetchone()
    assert row is not None and row[0] == "rejected_by_database"
    assert str(row[1]).startswith("22021")  # character_not_in_repertoire: PostgreSQL refuses NUL


def test_python_exception_while_writing_one_row_is_an_internal_error(
    db: psycopg.Connection[tuple[object, ...]], conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A lone surrogate cannot be encoded for COPY: Python raises, not the database. The row is
    isolated all the same and dead-lettered with the exception's class."""
    write_splitting(conn, _good_and_past_the_edge(make_station(db).id, "\ud800"), "w-test", 500.0)
    assert _one(db, "SELECT count(*) FROM rain_readings") == 1
    row = db.execute("SELECT reason, detail FROM dead_letters").fetchone()
    assert row is not None and row[0] == "internal_error"
    assert str(row[1]).startswith("UnicodeEncodeError")
    counters = _one(db, "SELECT counters FROM ingest_metrics")
    assert isinstance(counters, dict) and counters["internal_errors"] == {"UnicodeEncodeError": 1}


def test_database_errors_that_are_not_about_the_data_are_raised_for_a_retry(
    db: psycopg.Connection[tuple[object, ...]], conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    conn.close()  # the database "went away"
    with pytest.raises(psycopg.OperationalError) as info:
        write_splitting(conn, [_parsed(st, reading(1, minute(1)))], "w-test", 500.0)
    assert not refused_by_data(info.value)
    assert _one(db, "SELECT count(*) FROM dead_letters") == 0  # nothing dead-lettered: retried


def test_counter_jump_past_int4_is_rate_too_high_not_refused(
    db: psycopg.Connection[tuple[object, ...]], conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    """Regression (found by tests/fuzz/test_fuzz_store.py): a counter that jumps by more than
    2**31 derived tips that overflowed the stage's int4 column; the whole batch was refused
    (and, before the split, retried for ever). The stage's tips are bigint now, so the rate
    check sees the jump and says what it is."""
    st = make_station(db).id
    docs = [
        {"ts": minute(1).isoformat(), "counter": 0, "interval_s": 60},
        {"ts": minute(2).isoformat(), "counter": 2**62, "interval_s": 60},
    ]
    write_splitting(conn, [_parsed(st, json.dumps({"readings": docs}))], "w-test", 500.0)
    assert _one(db, "SELECT count(*) FROM rain_readings") == 1  # the baseline
    assert db.execute("SELECT reason FROM dead_letters").fetchall() == [("rate_too_high",)]
