"""The live stream (Server-Sent Events) of new readings, station status changes and incident
changes, woken by PostgreSQL NOTIFY and read from the database by cursor.

One LISTEN connection per API process (LiveHub) wakes every connected client; each client then
reads what is new after its own cursor through the pool. Because the event id IS that cursor, a
client that reconnects with Last-Event-ID to any API process, or after a restart, resumes from
the database, not from one process's memory. See docs/api.md ("Live") for the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.queries import live as live_queries
from vigie import notify
from vigie.errors import ValidationFailed

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
# Ingest stamps received_at before its batch commits, so a reading can become visible after a
# later-stamped one; live streams re-read this much before their cursor and skip what they sent.
OVERLAP = timedelta(seconds=10)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass
class Cursor:
    """Where a client is: the last reading (received_at, station, ts), status change, incident change."""

    received_at: datetime
    station: str
    ts: datetime
    status_at: datetime
    change_id: int

    def encode(self) -> str:
        return f"{_us(self.received_at)}.{self.station}.{_us(self.ts)}.{_us(self.status_at)}.{self.change_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        parts = text.split(".")
        try:
            if len(text) > 200 or len(parts) != 5 or not 0 <= len(parts[1]) <= 64:
                raise ValueError
            r_us, ts_us, s_us, change = (int(p) for p in (parts[0], parts[2], parts[3], parts[4]))
            if min(r_us, ts_us, s_us, change) < 0 or max(r_us, ts_us, s_us) > 10**17:
                raise ValueError
        except ValueError:
            raise ValidationFailed("Last-Event-ID illisible : reconnectez-vous sans lui") from None
        return cls(_at(r_us), parts[1], _at(ts_us), _at(s_us), change)

    def reading_key(self) -> tuple[datetime, str, datetime]:
        return (self.received_at, self.station, self.ts)


class Subscription:
    """One client's wake-up flag."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self, seconds: float) -> bool:
        """True when woken by a notification, False when `seconds` passed."""
        try:
            async with asyncio.timeout(seconds):
                await self.event.wait()
        except TimeoutError:
            return False
        self.event.clear()
        return True


Rows = list[dict[str, Any]]
ReadKey = tuple[int, datetime, datetime, str | None]


class SharedReads:
    """Clients at the same cursor share one read of the database per wake-up.

    Every notification wakes every client; caught-up clients then stand at the same cursor and
    would each run the same three queries (200 clients: 600 queries for one reading). The first
    of them starts the read as a task of its own, the others await it. A read is reused only
    within the wake-up that started it and for at most MAX_AGE_S, so a client never gets rows
    older than the notification that woke it, and the 15 s heartbeat still re-reads.
    """

    MAX_AGE_S = 1.0

    def __init__(self) -> None:
        self._reads: dict[ReadKey, tuple[float, asyncio.Task[tuple[Rows, Rows, Rows]]]] = {}
        self.executed = 0  # reads actually run (what the sharing saves is visible in tests)

    def next_wake(self) -> None:
        self._reads.clear()

    async def read(self, pool: AsyncConnectionPool, key: ReadKey) -> tuple[Rows, Rows, Rows]:
        now = asyncio.get_running_loop().time()
        hit = self._reads.get(key)
        if hit is None or now - hit[0] > self.MAX_AGE_S:
            task = asyncio.create_task(self._run(pool, key), name="vigie-live-read")
            # Retrieved even if every client waiting on it has gone (no "never retrieved" noise).
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            hit = (now, task)
            self._reads[key] = hit
        # shield: a client that disconnects does not cancel the read the others wait on.
        return await asyncio.shield(hit[1])

    async def _run(self, pool: AsyncConnectionPool, key: ReadKey) -> tuple[Rows, Rows, Rows]:
        change_id, status_at, since, station = key
        self.executed += 1
        async with pool.connection() as conn:
            changes = await live_queries.incident_changes_after(conn, change_id)
            statuses = await live_queries.status_since(conn, status_at, station)
            readings = await live_queries.readings_since(conn, since, station)
        return changes, statuses, readings


class LiveHub:
    """The one LISTEN connection of this API process, opened with the first client; it wakes
    every subscription on each notification (and on reconnecting, since notifications sent while
    it was away are lost and the clients must look)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.shared = SharedReads()

    def subscribe(self) -> Subscription:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="vigie-live-listen")
        sub = Subscription()
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def _wake(self) -> None:
        self.shared.next_wake()
        for sub in self._subs:
            sub.event.set()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name="vigie-api-live"
                ) as conn:
                    for channel in (notify.READINGS, notify.INCIDENT_CHANGE, notify.STATION_STATUS):
                        await conn.execute(
                            psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
                        )
                    self.listening.set()
                    self._wake()
                    delay = 0.5
                    async for _ in conn.notifies():
                        self._wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live: LISTEN connection lost; reconnecting in %.1f s", delay)
            self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def start_cursor(pool: AsyncConnectionPool, last_event_id: str | None) -> Cursor:
    """The client's cursor: its Last-Event-ID, else the newest stored state ("from now on")."""
    if last_event_id:
        return Cursor.decode(last_event_id)
    async with pool.connection() as conn:
        head = await live_queries.head(conn)
    received = head["received_at"] or head["now"]
    return Cursor(received, "\uffff", EPOCH, head["status_at"] or head["now"], int(head["change_id"]))


@dataclass
class _Reader:
    cursor: Cursor
    station: str | None
    # (station, ts) -> received_at of readings sent in the overlap window.
    sent: dict[tuple[str, datetime], datetime] = field(default_factory=dict)
    seeded: bool = False
    catching_up: bool = False

    async def read(self, pool: AsyncConnectionPool, shared: SharedReads | None) -> tuple[list[str], bool]:
        """The events after the cursor, and whether a query was cut at its limit (read on)."""
        out: list[str] = []
        # Catching up, the overlap is not re-read: its rows could fill the whole batch.
        since = self.cursor.received_at - (timedelta(0) if self.catching_up else OVERLAP)
        at = (self.cursor.change_id, self.cursor.status_at, since, self.station)
        # Without a hub's SharedReads (the replica), a private one: the read runs, shared by none.
        changes, statuses, readings = await (shared or SharedReads()).read(pool, at)
        for c in changes:
            self.cursor.change_id = int(c["id"])
            out.append(_event("incident", self.cursor, c))
        for s in statuses:
            self.cursor.status_at = max(self.cursor.status_at, s["status_changed_at"])
            out.append(_event("status", self.cursor, s))
        for r in readings:
            key = (r["station_id"], r["ts"])
            position = (r["received_at"], r["station_id"], r["ts"])
            if key in self.sent:
                continue  # sent by this stream (the overlap)
            self.sent[key] = r["received_at"]
            if not self.seeded and position <= self.cursor.reading_key():
                continue  # at or before the cursor the stream started from: sent before
            if position > self.cursor.reading_key():
                self.cursor.received_at, self.cursor.station, self.cursor.ts = position
            out.append(_event("reading", self.cursor, r))
        self.seeded = True
        floor = self.cursor.received_at - OVERLAP
        self.sent = {k: v for k, v in self.sent.items() if v >= floor}
        full = max(len(changes), len(statuses), len(readings)) >= live_queries.BATCH
        self.catching_up = full
        return out, full


def _event(kind: str, cursor: Cursor, row: dict[str, Any]) -> str:
    data = json.dumps(row, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
    return f"id: {cursor.encode()}\nevent: {kind}\ndata: {data}\n\n"


async def stream(
    pool: AsyncConnectionPool,
    hub: LiveHub,
    cursor: Cursor,
    station: str | None,
    catch_up: AsyncConnectionPool | None = None,
) -> AsyncIterator[str]:
    """The SSE text: what is new after the cursor, then whatever each notification brings;
    a comment every HEARTBEAT_S so that proxies keep the connection and clients see it live.

    With `catch_up` (the read replica's pool), the backlog of a resumed stream is read there,
    up to the first read that is not cut at its limit; then at once and from then on from the
    primary's pool. The replica may be a moment behind: what it had not replayed yet is read
    from the primary by that read, which goes back OVERLAP before the cursor (a replica further behind than
    that would lose readings; the NOTIFY that wakes streams is the primary's, standbys have none)."""
    sub = hub.subscribe()  # before the first read, so that nothing committed meanwhile is missed
    reader = _Reader(cursor, station)
    source = catch_up or pool
    try:
        yield "retry: 3000\n\n"
        while True:
            # Only the primary's reads are shared: a replica's may be a moment behind.
            events, full = await reader.read(source, hub.shared if source is pool else None)
            for text in events:
                yield text
            if full:
                continue  # catching up: read on without waiting
            if source is not pool:
                source = pool  # caught up with the replica: what it has not replayed, at once
                continue
            if not await sub.wait(HEARTBEAT_S):
                yield ": ping\n\n"
    finally:
        hub.unsubscribe(sub)
