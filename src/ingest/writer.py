"""Write one batch in one transaction: stage with COPY, resolve stations, derive counter tips,
flag quality, insert idempotently, add only the inserted rows to the rollups, update device
status, record dead letters and counters, and NOTIFY the alert engine at commit."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ingest.parse import DeadLetter, Flooded, Parsed, Staged, StatusUpdate
from ingest.stats import BatchStats
from vigie import notify
from vigie.quality import COUNTER_BASELINE, COUNTER_RESET, OUT_OF_ORDER

Conn = psycopg.Connection[tuple[Any, ...]]

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
    pos int NOT NULL, topic text NOT NULL, station_id text, dev_eui text, ts timestamptz NOT NULL,
    seq bigint, interval_s int, tips bigint, counter bigint, battery_v real, rssi smallint, fw text,
    flags smallint NOT NULL, received_at timestamptz NOT NULL, live boolean NOT NULL
) ON COMMIT DELETE ROWS
"""
# The stage's columns and their COPY types, in write order. Binary COPY with declared types costs
# about a third less client CPU per row than text COPY, and the client's CPU (shared with parsing
# under the GIL) is what bounds batched throughput.
_STAGE = (
    ("pos", "int4"), ("topic", "text"), ("station_id", "text"), ("dev_eui", "text"),
    ("ts", "timestamptz"), ("seq", "int8"), ("interval_s", "int4"), ("tips", "int8"),
    ("counter", "int8"), ("battery_v", "float4"), ("rssi", "int2"), ("fw", "text"),
    ("flags", "int2"), ("received_at", "timestamptz"), ("live", "bool"),
)  # fmt: skip
# tips is bigint in the stage although rain_readings.tips is integer: a counter that jumps by
# more than 2**31 (counters go up to 2**62) derives tips that overflow int4, and the rate check
# must see them to dead-letter them as rate_too_high (found by tests/fuzz/test_fuzz_store.py).
_STAGE_COLUMNS = ", ".join(name for name, _ in _STAGE)
_STAGE_TYPES = [pg_type for _, pg_type in _STAGE]


@dataclass(frozen=True)
class StageRejection:
    """Staged rows matching `where` become dead letters with `reason`, in one statement."""

    reason: str
    where: LiteralString
    detail: LiteralString
    using: LiteralString = ""  # extra tables joined to the stage (DELETE … USING)

    def statement(self) -> sql.Composed:
        """DELETE … RETURNING from the stage into dead_letters."""
        return sql.SQL(
            """
            WITH bad AS (DELETE FROM ingest_stage g {using} WHERE {where} RETURNING g.*)
            INSERT INTO dead_letters (received_at, topic, payload, payload_size, reason, detail,
                                      station_id)
            SELECT g.received_at, g.topic, convert_to(g.reading::text, 'UTF8'),
                   octet_length(g.reading::text), %(reason)s, {detail}, g.station_id
            FROM (SELECT b.*, json_strip_nulls(json_build_object(
                      'ts', b.ts, 'seq', b.seq, 'tips', b.tips, 'counter', b.counter,
                      'interval_s', b.interval_s, 'battery_v', b.battery_v, 'rssi', b.rssi,
                      'fw', b.fw, 'devEui', b.dev_eui)) AS reading
                  FROM bad b) AS g
            """
        ).format(
            using=sql.SQL(f"USING {self.using}" if self.using else ""),
            where=sql.SQL(self.where),
            detail=sql.SQL(self.detail),
        )


UNKNOWN_STATION = StageRejection(
    "unknown_station",
    "NOT EXISTS (SELECT 1 FROM stations s WHERE s.id = g.station_id)",
    "coalesce('station ' || g.station_id, 'devEUI ' || g.dev_eui) || ' is not registered'",
)
RATE_TOO_HIGH = StageRejection(
    "rate_too_high",
    "s.id = g.station_id AND g.tips IS NOT NULL AND g.tips * 3600.0 / g.interval_s * s.tip_mm > %(max_rate)s",
    "g.tips || ' tips in ' || g.interval_s || ' s exceed the plausible rate'",
    using="stations s",
)

_STEPS_BEFORE_INSERT: tuple[str, ...] = (
    # LoRaWAN uplinks name a devEUI, not a station.
    """UPDATE ingest_stage g SET station_id = s.id FROM stations s
       WHERE g.station_id IS NULL AND s.dev_eui = g.dev_eui""",
    # A missing interval means the station's expected one.
    """UPDATE ingest_stage g SET interval_s = s.expected_interval_s FROM stations s
       WHERE g.station_id = s.id AND g.interval_s IS NULL""",
)

# Counter-only readings: tips = counter minus the previous counter of the same gauge (stored or in
# this batch). A lower counter is a reboot; the first counter is a baseline; a reading older
# than one already stored gets no depth, because the newer reading already counted that rain.
_COUNTER_TIPS = """
WITH c AS MATERIALIZED (
    SELECT g2.pos,
        (SELECT p.counter FROM (
            (SELECT r.ts, r.counter FROM rain_readings r
              WHERE r.station_id = g2.station_id AND r.ts < g2.ts AND r.counter IS NOT NULL
              ORDER BY r.ts DESC LIMIT 1)
            UNION ALL
            (SELECT o.ts, o.counter FROM ingest_stage o
              WHERE o.station_id = g2.station_id AND o.ts < g2.ts AND o.counter IS NOT NULL
              ORDER BY o.ts DESC LIMIT 1)
         ) p ORDER BY p.ts DESC LIMIT 1) AS prev,
        EXISTS (SELECT 1 FROM rain_readings r
                 WHERE r.station_id = g2.station_id AND r.ts > g2.ts AND r.counter IS NOT NULL) AS late
    FROM ingest_stage g2 WHERE g2.tips IS NULL
)
UPDATE ingest_stage g SET
    tips = CASE WHEN c.late OR c.prev IS NULL THEN NULL
                WHEN g.counter < c.prev THEN g.counter
                ELSE g.counter - c.prev END,
    flags = g.flags
          | CASE WHEN c.late THEN %(out_of_order)s ELSE 0 END
          | CASE WHEN NOT c.late AND c.prev IS NULL THEN %(counter_baseline)s ELSE 0 END
          | CASE WHEN NOT c.late AND g.counter < c.prev THEN %(counter_reset)s ELSE 0 END
FROM c
WHERE c.pos = g.pos
"""

_FLAG_BITS = {
    "out_of_order": OUT_OF_ORDER.bit,
    "counter_baseline": COUNTER_BASELINE.bit,
    "counter_reset": COUNTER_RESET.bit,
}

_OUT_OF_ORDER = """
UPDATE ingest_stage g SET flags = g.flags | %(out_of_order)s
FROM (
    SELECT s.pos, s.ts < greatest(d.last_ts, max(s.ts) OVER (
               PARTITION BY s.station_id ORDER BY s.pos
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS late
    FROM ingest_stage s LEFT JOIN device_status d ON d.station_id = s.station_id
) o
WHERE o.pos = g.pos AND o.late
"""

# Only rows really inserted (RETURNING) reach the rollups: a duplicate never counts twice.
# Sorted inserts take row locks in one order, so two workers cannot deadlock on them.
_INSERT = """
WITH ins AS (
    INSERT INTO rain_readings (station_id, ts, interval_s, seq, tips, counter, mm, battery_v,
                               rssi, flags, received_at)
    SELECT g.station_id, g.ts, g.interval_s, g.seq, g.tips, g.counter, g.tips * s.tip_mm,
           g.battery_v, g.rssi, g.flags, g.received_at
    FROM ingest_stage g JOIN stations s ON s.id = g.station_id
    ORDER BY g.station_id, g.ts
    ON CONFLICT DO NOTHING
    RETURNING station_id, ts, mm
), r5 AS (
    INSERT INTO rain_5min AS t (station_id, bucket, mm, readings)
    SELECT station_id, time_bucket('5 minutes', ts - interval '1 microsecond'), sum(mm), count(*)
    FROM ins WHERE mm IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (station_id, bucket)
    DO UPDATE SET mm = t.mm + excluded.mm, readings = t.readings + excluded.readings
), r1 AS (
    INSERT INTO rain_1h AS t (station_id, bucket, mm, readings)
    SELECT station_id, time_bucket('1 hour', ts - interval '1 microsecond'), sum(mm), count(*)
    FROM ins WHERE mm IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (station_id, bucket)
    DO UPDATE SET mm = t.mm + excluded.mm, readings = t.readings + excluded.readings
)
SELECT count(*), min(ts), max(ts), array_agg(DISTINCT station_id),
       coalesce(array_agg(DISTINCT station_id) FILTER (WHERE mm > 0), '{}')
FROM ins
"""

_DEVICE_STATUS = """
INSERT INTO device_status AS d (station_id, last_seen, last_ts, last_seq, battery_v, rssi, fw,
                                clock_offset_s, online, status_changed_at)
SELECT DISTINCT ON (g.station_id) g.station_id, g.received_at, g.ts, g.seq, g.battery_v, g.rssi,
       g.fw, CASE WHEN g.live THEN extract(epoch FROM g.ts - g.received_at) END, true, g.received_at
FROM ingest_stage g JOIN stations s ON s.id = g.station_id
ORDER BY g.station_id, g.ts DESC
ON CONFLICT (station_id) DO UPDATE SET
    last_seen = greatest(d.last_seen, excluded.last_seen),
    last_ts = greatest(d.last_ts, excluded.last_ts),
    last_seq = CASE WHEN excluded.last_ts >= coalesce(d.last_ts, '-infinity')
                    THEN excluded.last_seq ELSE d.last_seq END,
    battery_v = CASE WHEN excluded.last_ts >= coalesce(d.last_ts, '-infinity')
                     THEN coalesce(excluded.battery_v, d.battery_v) ELSE d.battery_v END,
    rssi = CASE WHEN excluded.last_ts >= coalesce(d.last_ts, '-infinity')
                THEN coalesce(excluded.rssi, d.rssi) ELSE d.rssi END,
    fw = coalesce(excluded.fw, d.fw),
    clock_offset_s = coalesce(excluded.clock_offset_s, d.clock_offset_s),
    status_changed_at = CASE WHEN d.online IS DISTINCT FROM true
                             THEN excluded.status_changed_at ELSE d.status_changed_at END,
    online = true
"""

_STATUS = """
INSERT INTO device_status AS d (station_id, last_seen, online, status_changed_at)
SELECT s.id, %(at)s, %(online)s, %(at)s FROM stations s WHERE s.id = %(sid)s
ON CONFLICT (station_id) DO UPDATE SET
    last_seen = greatest(d.last_seen, excluded.last_seen),
    status_changed_at = CASE WHEN d.online IS DISTINCT FROM excluded.online
                             THEN excluded.status_changed_at ELSE d.status_changed_at END,
    online = excluded.online
"""

@dataclass(frozen=True)
class Committed:
    """The outcome of one committed batch."""

    stats: BatchStats
    stations: list[str]
    wet: list[str]  # the stations of `stations` that got rain in this batch


def prepare(conn: Conn) -> None:
    """Create the per-connection staging table (once per connection)."""
    conn.execute(_STAGE_DDL)
    conn.commit()


def write_batch(
    conn: Conn, parsed: list[Parsed], worker: str, max_rate_mm_h: float, messages: int | None = None
) -> Committed:
    """Write everything in `parsed` in one transaction; raise on database errors (nothing kept).

    messages: how many MQTT messages this counts as (default: one per Parsed); a split batch's
    parts count none, and its final part counts them all."""
    started = time.monotonic()
    readings = [r for p in parsed for r in p.readings]
    statuses = [s for p in parsed for s in p.statuses]
    dead = [d for p in parsed for d in p.dead]
    flooded = [f for p in parsed for f in p.flooded]
    stats = BatchStats(messages=len(parsed) if messages is None else messages, readings=len(readings))
    stats.dead_letters.update(d.reason for d in dead)
    stats.internal_errors.update(d.exception for d in dead if d.exception)
    stats.dead_letters.update(f.reason for f in flooded)
    oldest = min((r.received_at for r in readings), default=None)

    with conn.transaction():
        if readings:
            _copy_stage(conn, readings)
            for step in _STEPS_BEFORE_INSERT:
                conn.execute(step)
            stats.dead_letters.update(_reject(conn, UNKNOWN_STATION, max_rate_mm_h))
            if any(r.reading.tips is None for r in readings):
                _lock_counter_stations(conn)
                conn.execute(_COUNTER_TIPS, _FLAG_BITS)
            stats.dead_letters.update(_reject(conn, RATE_TOO_HIGH, max_rate_mm_h))

            conn.execute(_OUT_OF_ORDER, _FLAG_BITS)
            remaining = conn.execute("SELECT count(*) FROM ingest_stage").fetchone()
            inserted, _first, _last, stations, wet = conn.execute(_INSERT).fetchone() or (
                0,
                None,
                None,
                None,
                [],
            )
            conn.execute(_DEVICE_STATUS)
            stats.stored = int(inserted)
            stats.duplicates = int(remaining[0] if remaining else 0) - stats.stored
            station_list = sorted(stations or [])
            wet_list = sorted(wet)
        else:
            station_list, wet_list = [], []
        applied = [_apply_status(conn, status, stats) for status in statuses]
        if dead:
            _copy_dead(conn, dead)
        if flooded:
            _add_floods(conn, flooded)
        stats.seconds = time.monotonic() - started
        if oldest is not None:
            stats.lag_s = (datetime.now(UTC) - oldest).total_seconds()
        _save_stats(conn, worker, stats)
        if station_list:
            payload = notify.readings_payload(station_list, wet_list, worker)
            conn.execute("SELECT pg_notify(%s, %s)", (notify.READINGS, payload))
        if any(applied):
            # The payload names only the worker: a reconnecting fleet's ids would not fit in a
            # NOTIFY, and the listeners read the statuses from device_status anyway.
            conn.execute("SELECT pg_notify(%s, %s)", (notify.STATION_STATUS, worker))
    return Committed(stats, station_list, wet_list)


def _copy_stage(conn: Conn, readings: list[Staged]) -> None:
    with conn.cursor().copy(f"COPY ingest_stage ({_STAGE_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_STAGE_TYPES)
        for pos, s in enumerate(readings):
            r = s.reading
            copy.write_row(
                (
                    pos,
                    s.topic,
                    s.station_id,
                    s.dev_eui,
                    r.ts,
                    r.seq,
                    r.interval_s,
                    r.tips,
                    r.counter,
                    r.battery_v,
                    r.rssi,
                    r.fw,
                    s.flags,
                    s.received_at,
                    s.live,
                )
            )


def _reject(conn: Conn, rule: StageRejection, max_rate_mm_h: float) -> Counter[str]:
    cur = conn.execute(rule.statement(), {"reason": rule.reason, "max_rate": max_rate_mm_h})
    return Counter({rule.reason: cur.rowcount}) if cur.rowcount > 0 else Counter()


def _lock_counter_stations(conn: Conn) -> None:
    # Two workers deriving tips for the same gauge's counter must not read the same "previous".
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('vigie-counter:' || station_id)) FROM"
        " (SELECT DISTINCT station_id FROM ingest_stage WHERE tips IS NULL ORDER BY 1) x"
    )


def _apply_status(conn: Conn, status: StatusUpdate, stats: BatchStats) -> bool:
    """Store one status message; True when a registered station's status row was written."""
    cur = conn.execute(_STATUS, {"sid": status.station_id, "online": status.online, "at": status.received_at})
    if cur.rowcount == 0 and status.retained:
        stats.ignored_retained += 1
        return False
    if cur.rowcount == 0:
        _copy_dead(
            conn,
            [
                DeadLetter(
                    status.topic,
                    status.raw[:4096],
                    len(status.raw),
                    "unknown_station",
                    f"station {status.station_id} is not registered",
                    status.received_at,
                    status.station_id,
                )
            ],
        )
        stats.dead_letters["unknown_station"] += 1
        return False
    return True


def _copy_dead(conn: Conn, dead: list[DeadLetter]) -> None:
    with conn.cursor().copy(
        "COPY dead_letters (received_at, topic, payload, payload_size, reason, detail, station_id) FROM STDIN"
    ) as copy:
        for d in dead:
            copy.write_row(
                (
                    d.received_at,
                    d.topic,
                    d.payload,
                    d.payload_size,
                    d.reason,
                    d.detail,
                    d.station_id,
                )
            )


# One row per device and minute: each batch adds its count and bytes, and appends its payloads
# until the row holds `keep` of them. The unique index makes concurrent workers share the row.
_FLOOD = """
INSERT INTO dead_letters AS d (received_at, topic, payload, payload_size, reason, detail,
                               station_id, messages, payloads, flood_key)
VALUES (%(minute)s, %(topic)s, %(payload)s, %(size)s, %(reason)s, %(detail)s, %(station)s,
        %(messages)s, (%(payloads)s::bytea[])[1:%(keep)s], %(key)s)
ON CONFLICT (flood_key, received_at) WHERE flood_key IS NOT NULL DO UPDATE SET
    messages = d.messages + excluded.messages,
    payload_size = least(d.payload_size::bigint + excluded.payload_size, 2147483647),
    payloads = (coalesce(d.payloads, '{}') || excluded.payloads)[1:%(keep)s]
"""


def _add_floods(conn: Conn, flooded: list[Flooded]) -> None:
    groups: dict[tuple[str, datetime], list[Flooded]] = {}
    for f in flooded:
        groups.setdefault((f.key, f.minute), []).append(f)
    rows = [
        {
            "minute": minute,
            "topic": group[0].topic,
            "payload": group[0].payload,
            "size": min(sum(f.size for f in group), 2**31 - 1),
            "reason": group[0].reason,
            "detail": group[0].detail,
            "station": group[0].station_id,
            "messages": len(group),
            "payloads": [f.payload for f in group[: group[0].keep]],
            "keep": group[0].keep,
            "key": key,
        }
        for (key, minute), group in sorted(groups.items())
    ]
    conn.cursor().executemany(_FLOOD, rows)


def _save_stats(conn: Conn, worker: str, stats: BatchStats) -> None:
    row = conn.execute(
        "SELECT counters FROM ingest_metrics WHERE worker = %s FOR UPDATE", (worker,)
    ).fetchone()
    counters = stats.merge_into(dict(row[0]) if row else {})
    conn.execute(
        "INSERT INTO ingest_metrics (worker, updated_at, counters) VALUES (%s, now(), %s)"
        " ON CONFLICT (worker) DO UPDATE SET updated_at = now(), counters = excluded.counters",
        (worker, Jsonb(counters)),
    )
