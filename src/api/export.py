"""Readings exports (CSV for French spreadsheets, JSON), written batch by batch as they stream
from the database, so that an export of a year holds one batch in memory, not the year."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from api.queries import readings
from vigie.quality import flag_names

# French headers, in the order of readings.stream_range's columns.
CSV_HEADER = (
    "station",
    "horodatage",
    "intervalle_s",
    "sequence",
    "basculements",
    "compteur",
    "pluie_mm",
    "batterie_v",
    "rssi_dbm",
    "qualite",
    "recu_le",
)
# Excel reads a UTF-8 file as ANSI unless it starts with a byte-order mark; LibreOffice skips it.
BOM = "\ufeff"


def _number(value: float | int | None, decimal: str) -> str:
    if value is None:
        return ""
    text = repr(round(value, 4)) if isinstance(value, float) else str(value)
    return text.replace(".", decimal) if decimal != "." else text


def _integer(value: int | None) -> str:
    return "" if value is None else str(value)


def _local(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).isoformat()


def _csv_rows(station: str, rows: Sequence[tuple[Any, ...]], tz: ZoneInfo, decimal: str) -> list[list[str]]:
    # A row's cost is the export's speed (a year of one station is 525,600 rows): the quality
    # names are computed once per distinct flags value, not per row.
    quality: dict[int, str] = {}
    out = []
    for ts, interval_s, seq, tips, counter, mm, battery_v, rssi, flags, received_at in rows:
        names = quality.get(flags)
        if names is None:
            names = quality[flags] = "|".join(flag_names(int(flags)))
        out.append(
            [
                station,
                _local(ts, tz),
                str(interval_s),
                _integer(seq),
                _integer(tips),
                _integer(counter),
                _number(mm, decimal),
                _number(None if battery_v is None else float(battery_v), decimal),
                _integer(rssi),
                names,
                _local(received_at, tz),
            ]
        )
    return out


async def csv_stream(
    pool: AsyncConnectionPool,
    station: str,
    start: datetime,
    end: datetime,
    timezone: str,
    sep: str,
    decimal: str,
) -> AsyncIterator[str]:
    """The CSV text, one chunk per database batch; the header comes first, before any query."""
    tz = ZoneInfo(timezone)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield BOM + buf.getvalue()
    async with pool.connection() as conn:
        async for batch in readings.stream_range(conn, station, start, end):
            buf.seek(0)
            buf.truncate()
            writer.writerows(_csv_rows(station, batch, tz, decimal))
            yield buf.getvalue()


async def json_stream(
    pool: AsyncConnectionPool, station: str, start: datetime, end: datetime, timezone: str
) -> AsyncIterator[str]:
    """One JSON document {station, from, to, timezone, readings: [...]}, written as it streams."""
    tz = ZoneInfo(timezone)
    head = {"station": station, "from": _local(start, tz), "to": _local(end, tz), "timezone": timezone}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "readings": ['
    first = True
    async with pool.connection() as conn:
        async for batch in readings.stream_range(conn, station, start, end):
            items = []
            for ts, interval_s, seq, tips, counter, mm, battery_v, rssi, flags, received_at in batch:
                items.append(
                    json.dumps(
                        {
                            "ts": _local(ts, tz),
                            "interval_s": interval_s,
                            "seq": seq,
                            "tips": tips,
                            "counter": counter,
                            "mm": mm,
                            "battery_v": None if battery_v is None else round(float(battery_v), 3),
                            "rssi": rssi,
                            "flags": flag_names(int(flags)),
                            "received_at": _local(received_at, tz),
                        }
                    )
                )
            yield ("" if first else ",") + ",".join(items)
            first = False
    yield "]}"
