"""bench-api's data: 50 stations x 1 year of 1-minute readings in a database kept between runs.

The rows go in with COPY, one day (one hypertable chunk) at a time, then the rollups that ingest
would have maintained (rain_5min, rain_1h) are rebuilt from them, with the same bucketing rule
as src/ingest/writer.py (a reading counts in the bucket holding its ts minus 1 µs). The database
records what it holds in its own comment, so a later run finds it complete and skips the load;
a load that was interrupted leaves no comment and is redone.
"""

from __future__ import annotations

import json
import os
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from vigie.migrate import migrate

ADMIN_URL = os.environ.get("VIGIE_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:55432/postgres")
DB_NAME = "vigie_bench_api"
# Bump when the generated data changes shape, so a kept database of the old shape is reloaded.
DATA_VERSION = 2  # 2: rows stored minute by minute across stations


@dataclass(frozen=True)
class Dataset:
    """What the bench database holds: readings with start < ts <= end, every minute."""

    url: str
    stations: list[str]
    start: datetime
    end: datetime
    rows: int
    loaded_now: bool
    load_s: float | None
    load_rows_per_s: float | None


def db_url(name: str = DB_NAME) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def station_ids(n: int) -> list[str]:
    return [f"bench-api-{i:02d}" for i in range(n)]


def _marker(
    admin: psycopg.Connection[Any], name: str = DB_NAME, version: int = DATA_VERSION
) -> dict[str, Any] | None:
    """What a kept bench database says it holds (its comment), if of this shape version."""
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    if row is None or not row[0]:
        return None
    try:
        marker: dict[str, Any] = json.loads(row[0])
    except ValueError:
        return None
    return marker if marker.get("version") == version else None


def _progress(done: int, total: int, started: float, what: str) -> None:
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("inf")
    print(
        f"\r[bench-api] {what}: {done:,}/{total:,} rows, {rate:,.0f} rows/s, ETA {eta:,.0f} s   ",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _day_text(stations: list[str], day_start: datetime, counters: dict[str, int], seq0: int) -> bytes:
    """One day of every station as COPY text: mostly dry minutes, and rain episodes on wet days."""
    minutes = [day_start + timedelta(minutes=m + 1) for m in range(1440)]
    ts_text = [t.isoformat() for t in minutes]
    rx_text = [(t + timedelta(seconds=3)).isoformat() for t in minutes]
    per_station: list[list[str]] = []
    for sid in stations:
        rng = random.Random(f"{sid}/{day_start.date()}")
        wet = rng.random() < 0.35
        lo = rng.randrange(0, 1200) if wet else 2000
        hi = lo + rng.randrange(30, 360)
        counter = counters[sid]
        battery = f"{3.6 + rng.random() * 0.5:.2f}"
        rssi = str(-60 - rng.randrange(30))
        mine = []
        for m in range(1440):
            tips = rng.choice((0, 1, 1, 2, 3, 5)) if lo <= m < hi else 0
            counter += tips
            mine.append(
                f"{sid}\t{ts_text[m]}\t60\t{seq0 + m}\t{tips}\t{counter}\t{tips * 0.2:.1f}\t"
                f"{battery}\t{rssi}\t0\t{rx_text[m]}\n"
            )
        per_station.append(mine)
        counters[sid] = counter
    # Minute by minute across the stations, as ingest stores them: a station's rows are spread
    # over its chunk's pages as in production, not packed together (which would flatter the
    # per-station reads of the raw table: the baseline and the CSV export).
    lines = [line for minute in zip(*per_station, strict=True) for line in minute]
    return "".join(lines).encode()


def _load(url: str, stations: list[str], start: datetime, days: int) -> int:
    total = len(stations) * days * 1440
    counters = dict.fromkeys(stations, 0)
    started = time.monotonic()
    done = 0
    with psycopg.connect(url) as conn:
        communes = [str(r[0]) for r in conn.execute("SELECT insee FROM communes ORDER BY insee")]
        with conn.cursor().copy("COPY stations (id, name, commune_insee, lat, lon, tip_mm) FROM STDIN") as cp:
            for i, sid in enumerate(stations):
                cp.write_row(
                    (sid, f"Pluviomètre de banc {i}", communes[i % len(communes)], 49.4 + i * 0.002, 2.9, 0.2)
                )
        conn.commit()
        # A thread makes the next day's text while the server digests this one (the wait for
        # COPY's end releases the GIL), so the two cores both work.
        days_text: queue.Queue[bytes] = queue.Queue(maxsize=2)

        def produce() -> None:
            for d in range(days):
                days_text.put(_day_text(stations, start + timedelta(days=d), counters, d * 1440))

        threading.Thread(target=produce, daemon=True).start()
        for _ in range(days):
            text = days_text.get()
            with conn.cursor().copy(
                "COPY rain_readings (station_id, ts, interval_s, seq, tips, counter, mm, battery_v,"
                " rssi, flags, received_at) FROM STDIN"
            ) as cp:
                cp.write(text)
            conn.commit()
            done += len(stations) * 1440
            _progress(done, total, started, "COPY rain_readings")
    print(file=sys.stderr)
    return done


def _rollups(url: str, start: datetime, days: int) -> None:
    """rain_5min and rain_1h from the raw rows, a month at a time (progress on stderr)."""
    started = time.monotonic()
    with psycopg.connect(url) as conn:
        for k in range(0, days, 30):
            lo, hi = start + timedelta(days=k), start + timedelta(days=min(days, k + 30))
            for table, interval in (("rain_5min", "5 minutes"), ("rain_1h", "1 hour")):
                # The range starts on a whole hour, so no bucket straddles two months' inserts.
                conn.execute(
                    f"INSERT INTO {table} (station_id, bucket, mm, readings)"  # noqa: S608  # fixed names
                    f" SELECT station_id, time_bucket('{interval}', ts - interval '1 microsecond'),"
                    " sum(mm), count(*) FROM rain_readings"
                    " WHERE ts > %s AND ts <= %s AND mm IS NOT NULL GROUP BY 1, 2",
                    (lo, hi),
                )
            conn.commit()
            print(
                f"\r[bench-api] rollups: {min(days, k + 30)}/{days} days,"
                f" {time.monotonic() - started:.0f} s   ",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def cluster(url: str) -> None:
    """Rewrite the past chunks in station order, as ingest's hourly job (ingest.retention) has
    done by then on a server that has run for a year; a no-op once done, so a kept database
    pays it once."""
    started, done = time.monotonic(), 0
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT vigie_cluster_raw_chunks(interval '24 hours', 1)").fetchall():
            done += 1
            if done % 30 == 0:
                print(f"[bench-api] chunks in station order: {done}, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, end="\r", flush=True)
    if done:
        print(f"[bench-api] {done} chunks rewritten in station order in {time.monotonic() - started:.0f} s",
              file=sys.stderr)


def ensure(n_stations: int = 50, days: int = 365, reload: bool = False) -> Dataset:
    """The bench database, loaded now unless a complete one of the same shape is there already."""
    stations = station_ids(n_stations)
    url = db_url()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        marker = _marker(admin)
        fits = marker is not None and marker["stations"] == n_stations and marker["days"] == days
        if marker is not None and fits and not reload:
            print(f"[bench-api] kept database {DB_NAME}: {marker['rows']:,} rows, no load", file=sys.stderr)
            migrate(url)  # new migrations of the branch under test, if any
            cluster(url)
            return Dataset(
                url,
                stations,
                datetime.fromisoformat(marker["start"]),
                datetime.fromisoformat(marker["end"]),
                int(marker["rows"]),
                loaded_now=False,
                load_s=None,
                load_rows_per_s=None,
            )
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    migrate(url)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    started = time.monotonic()
    rows = _load(url, stations, start, days)
    copy_s = time.monotonic() - started
    _rollups(url, start, days)
    cluster(url)
    load_s = time.monotonic() - started
    marker = {
        "version": DATA_VERSION,
        "stations": n_stations,
        "days": days,
        "rows": rows,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "copy_rows_per_s": round(rows / copy_s),
        "load_s": round(load_s),
    }
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(DB_NAME), sql.Literal(json.dumps(marker))
            )
        )
    return Dataset(url, stations, start, end, rows, True, load_s, rows / copy_s)


if __name__ == "__main__":
    info = ensure(reload="--reload" in sys.argv)
    print(json.dumps({"rows": info.rows, "load_s": info.load_s, "copy_rows_per_s": info.load_rows_per_s}))
