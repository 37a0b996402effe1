"""Many live clients at one cursor: one database read per wake-up, and every client gets the
reading (the fan-out bench found 200 clients running 600 queries for one reading)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg

from api import live
from tests.factories import make_station
from tests.support import run_async
from vigie import notify
from vigie.db import make_async_pool

Db = psycopg.Connection[tuple[object, ...]]
CLIENTS = 12


async def _first_reading(stream: object) -> str:
    async for text in stream:  # type: ignore[attr-defined]
        if "event: reading" in text:
            return str(text)
    raise AssertionError("stream ended")


def test_clients_at_one_cursor_share_one_read_and_all_get_the_reading(db: Db, database_url: str) -> None:
    station = make_station(db).id

    async def main() -> tuple[list[str], int, int]:
        pool = make_async_pool(database_url, name="vigie-test-live")
        await pool.open()
        hub = live.LiveHub(database_url)
        try:
            start = await live.start_cursor(pool, None)
            tasks = [
                asyncio.create_task(_first_reading(live.stream(pool, hub, replace(start), None)))
                for _ in range(CLIENTS)
            ]
            async with asyncio.timeout(20):
                # Polled: two conditions of the hub, neither of which has an event of its own.
                while not (hub.listening.is_set() and len(hub._subs) == CLIENTS):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)  # every client past its first read, waiting
            before = hub.shared.executed
            now = datetime.now(UTC)
            with psycopg.connect(database_url, autocommit=True) as w:
                w.execute(
                    "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, received_at)"
                    " VALUES (%s, %s, 60, 3, 0.6, %s)",
                    (station, now - timedelta(seconds=5), now),
                )
                w.execute("SELECT pg_notify(%s, %s)", (notify.READINGS, "{}"))
            async with asyncio.timeout(20):
                got = await asyncio.gather(*tasks)
            return got, before, hub.shared.executed
        finally:
            await hub.close()
            await pool.close()

    got, before, after = run_async(main())
    assert len(got) == CLIENTS and all(station in text and '"tips": 3' in text for text in got)
    # One read for the wake-up (a second if the LISTEN reconnected meanwhile), not one per client.
    assert 1 <= after - before <= 2, (before, after)
