"""Helpers of the notifier tests: subscribers, sinks, a dispatcher in a thread, the outbox."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

from alerts.dispatch import Dispatcher
from simulators.sinks import SmsSink, SmtpSink
from tests.alerts.rain import add_rain, engine
from tests.support import Service, wait_for
from vigie.settings import AlertsSettings, OutboundSettings, Settings

Conn = psycopg.Connection[Any]

PUBLIC_URL = "https://vigie.example.org"
# Fast timings for tests; every one is a setting, as in production.
FAST = {
    "group_hold_s": 1.0,
    "poll_s": 0.2,
    "retry_base_s": 0.3,
    "retry_max_s": 1.0,
    "max_attempts": 3,
    "lease_s": 10.0,
    "send_timeout_s": 5.0,
    "workers": 8,
}


class RootLog(logging.Handler):
    """Collects, at DEBUG, every record that reaches the root logger while used as a context."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self._old_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> RootLog:
        root = logging.getLogger()
        self._old_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._old_level)


def add_subscriber(
    db: Conn,
    name: str,
    channels: list[dict[str, str]],
    *,
    communes: tuple[str, ...] = (),
    catchments: tuple[str, ...] = (),
    min_level: str = "yellow",
    quiet: tuple[time, time] | None = None,
    timezone: str = "Europe/Paris",
    audience: str = "public",
) -> int:
    """Insert a subscriber; returns its id."""
    row = db.execute(
        "INSERT INTO subscribers (name, communes, catchments, min_level, channels, quiet_start,"
        " quiet_end, timezone, audience) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (
            name,
            list(communes),
            list(catchments),
            min_level,
            json.dumps(channels),
            quiet[0] if quiet else None,
            quiet[1] if quiet else None,
            timezone,
            audience,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def sinks() -> Iterator[tuple[SmtpSink, SmsSink]]:
    """A running SMTP sink and SMS gateway, stopped afterwards."""
    smtp, sms = SmtpSink().start(), SmsSink().start()
    try:
        yield smtp, sms
    finally:
        sms.stop()
        smtp.stop()


@contextmanager
def dispatching(database_url: str, *, allow_private: bool = True, **overrides: Any) -> Iterator[Dispatcher]:
    """A Dispatcher running in a thread against this test's database.

    The sinks listen on loopback, so internal destinations are allowed explicitly unless a test
    says otherwise (vigie.outbound refuses them by default)."""
    alerts = AlertsSettings(**{**FAST, **overrides})
    outbound = OutboundSettings(allow_private=allow_private)
    d = Dispatcher(
        Settings(
            database_url=SecretStr(database_url), alerts=alerts, public_url=PUBLIC_URL, outbound=outbound
        )
    )
    t = threading.Thread(target=d.run, name="dispatcher", daemon=True)
    t.start()
    try:
        yield d
    finally:
        d.stop()
        t.join(timeout=30)
        assert not t.is_alive()


def rain_and_evaluate(db: Conn, station: str, mm: float, at: datetime) -> list[int]:
    """One reading ending at `at`, then one engine pass at `at`: the changes it wrote."""
    add_rain(db, station, at, mm)
    return engine().evaluate(db, [station], now=at).changes


def resolve_all(db: Conn, station: str, at: datetime) -> list[int]:
    """An engine sweep long after the rain: every open incident of the station resolves."""
    return engine().evaluate(db, [station], now=at + timedelta(hours=3), sweep=True).changes


def add_change(db: Conn, incident_id: int, kind: str, level: str, summary: str = "") -> int:
    """An outbox row as the engine writes it (used for reminders, which need 30 min of red)."""
    row = db.execute(
        "INSERT INTO incident_changes (incident_id, at, kind, level, previous_level, detail)"
        " VALUES (%s, now(), %s, %s, %s, %s) RETURNING id",
        (incident_id, kind, level, level, json.dumps({"summary": summary})),
    ).fetchone()
    assert row is not None
    db.execute("SELECT pg_notify('vigie_incident_change', %s)", (str(row[0]),))
    return int(row[0])


def deliveries(db: Conn) -> list[tuple[Any, ...]]:
    """(incident_change_id, subscriber_id, channel_index, purpose, level, state, grouped_into)."""
    return db.execute(
        "SELECT incident_change_id, subscriber_id, channel_index, purpose, level, state,"
        " grouped_into FROM deliveries ORDER BY id"
    ).fetchall()


def states(db: Conn) -> dict[str, int]:
    """How many deliveries per state."""
    return {
        str(s): int(n)
        for s, n in db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
    }


def settled(db: Conn) -> bool:
    """No delivery pending or sending, and every notify change expanded."""
    row = db.execute(
        "SELECT (SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')),"
        " (SELECT count(*) FROM incident_changes c WHERE notify AND NOT EXISTS"
        "  (SELECT 1 FROM notification_progress p WHERE p.incident_change_id = c.id))"
    ).fetchone()
    return row == (0, 0)


def wait_settled(db: Conn, timeout: float = 20.0) -> None:
    """Wait until the dispatcher has nothing left to do."""
    wait_for(lambda: settled(db), timeout=timeout, interval=0.1)


def alerts_service(database_url: str, log_path: Path, **alerts: Any) -> Service:
    """The real `vigie alerts` process; its own engine sweeps rarely so the test drives it."""
    env = {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_LOG_LEVEL": "INFO",
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "VIGIE_ALERTS__SWEEP_INTERVAL_S": "3600",
        "VIGIE_PUBLIC_URL": PUBLIC_URL,
        "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",  # the sinks listen on loopback
    }
    for key, value in {**FAST, **alerts}.items():
        env[f"VIGIE_ALERTS__{key.upper()}"] = str(value)
    return Service(["alerts"], env, log_path)


def now_utc() -> datetime:
    """The wall clock (the dispatcher's), minute-aligned for readable rain."""
    return datetime.now(UTC).replace(second=0, microsecond=0)
