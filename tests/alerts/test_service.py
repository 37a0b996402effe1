"""`vigie alerts` as a real process: woken by NOTIFY, killed mid-storm, restarted."""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.alerts.rain import add_rain, changes, only_rules
from tests.factories import make_station
from tests.support import Service, running, wait_for
from vigie.notify import ReadingsNotice as Notice
from vigie.notify import parse_readings_payload

Conn = psycopg.Connection[Any]


def _notify(db: Conn, stations: list[str] | None) -> None:
    db.execute("SELECT pg_notify('vigie_readings', %s)",
               (json.dumps({"stations": stations, "worker": "test"}),))


def test_payload_parsing_is_defensive() -> None:
    assert parse_readings_payload('{"stations": ["a-1", "b-2"]}') == Notice(frozenset({"a-1", "b-2"}))
    assert parse_readings_payload('{"stations": null}') == Notice(None)
    assert parse_readings_payload("not json") == Notice(None)
    assert parse_readings_payload("[1, 2]") == Notice(None)
    odd = '{"stations": [1, "", "x' + "y" * 100 + '", "ok"]}'
    assert parse_readings_payload(odd) == Notice(frozenset({"ok"}))
    assert parse_readings_payload('{"stations": ["a"]}' + " " * 70_000) == Notice(None)


def test_payload_with_wet_stations_defers_the_dry_ones() -> None:
    both = '{"stations": ["a", "b", "c"], "wet": ["b"]}'
    assert parse_readings_payload(both) == Notice(frozenset({"b"}), deferred=True)
    assert parse_readings_payload('{"stations": ["b"], "wet": ["b"]}') == Notice(frozenset({"b"}))
    # Too many stations for the payload, a few of them wet: those now, the rest later.
    many = '{"stations": null, "wet": ["b"]}'
    assert parse_readings_payload(many) == Notice(frozenset({"b"}), deferred=True)
    assert parse_readings_payload('{"stations": ["a"], "wet": []}') == Notice(frozenset(), deferred=True)
    assert parse_readings_payload('{"stations": null, "wet": null}') == Notice(None)
    assert parse_readings_payload('{"stations": ["a"], "wet": "b"}') == Notice(None)


def test_killed_mid_storm_and_restarted(db: Conn, alerts_url: str, tmp_path: Path) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    env = {"VIGIE_DATABASE_URL": alerts_url, "VIGIE_LOG_LEVEL": "INFO",
           "PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    svc = Service(["alerts"], env, tmp_path / "alerts.log")

    def kinds() -> list[str]:
        return [k for _, k, *_ in changes(db)]

    now = datetime.now(UTC)
    with running(svc):
        wait_for(lambda: db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigie-alerts-engine'"
            " AND datname = current_database()").fetchone() == (1,), timeout=30)
        add_rain(db, "thourotte-mairie", now - timedelta(minutes=2), 20.0)

        def opened() -> bool:
            _notify(db, ["thourotte-mairie"])
            return kinds() == ["opened"]

        wait_for(opened, timeout=15, interval=0.2)
        assert svc.stop(signal.SIGKILL) == -signal.SIGKILL
        # The storm goes on while the engine is dead; the notification is lost.
        add_rain(db, "thourotte-mairie", now - timedelta(minutes=1), 15.0)
        _notify(db, ["thourotte-mairie"])
    assert kinds() == ["opened"]
    with running(Service(["alerts"], env, tmp_path / "alerts2.log")) as again:
        wait_for(lambda: kinds() == ["opened", "escalated"], timeout=30, interval=0.2)
        for _ in range(5):  # more wake-ups, same data: nothing new
            _notify(db, ["thourotte-mairie"])
        _notify(db, None)
        wait_for(lambda: db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigie-alerts-engine'"
            " AND datname = current_database() AND state = 'idle'").fetchone() == (1,),
            timeout=10)
        assert again.stop() == 0
    assert kinds() == ["opened", "escalated"]
    assert "Traceback" not in svc.log() + again.log()


def test_hostile_notifications_never_stop_the_engine(
    db: Conn, alerts_url: str, tmp_path: Path
) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    env = {"VIGIE_DATABASE_URL": alerts_url, "PATH": os.environ.get("PATH", "")}
    with running(Service(["alerts"], env, tmp_path / "alerts.log")) as svc:
        wait_for(lambda: db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigie-alerts-engine'"
            " AND datname = current_database()").fetchone() == (1,), timeout=30)
        for payload in ("garbage", '{"stations": 5}', "[]", '{"stations": ["' + "z" * 7000 + '"]}',
                        '{"stations": ["\\u0000", "../../etc"]}', "null"):
            db.execute("SELECT pg_notify('vigie_readings', %s)", (payload,))
        add_rain(db, "thourotte-mairie", datetime.now(UTC) - timedelta(minutes=1), 20.0)

        def opened() -> bool:
            _notify(db, ["thourotte-mairie"])
            return [k for _, k, *_ in changes(db)] == ["opened"]

        wait_for(opened, timeout=15, interval=0.2)
        assert svc.proc is not None and svc.proc.poll() is None
    assert "Traceback" not in svc.log()


def test_dry_only_batches_are_evaluated_by_the_deferred_catch_up(
    db: Conn, alerts_url: str, tmp_path: Path
) -> None:
    # A batch that says "no station got rain" does not trigger an immediate pass; the stations it
    # touched are still evaluated, by the catch-up at most dry_delay_s later (not the minute sweep).
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    env = {"VIGIE_DATABASE_URL": alerts_url, "PATH": os.environ.get("PATH", ""),
           "VIGIE_ALERTS__DRY_DELAY_S": "2", "VIGIE_ALERTS__SWEEP_INTERVAL_S": "3600"}
    with running(Service(["alerts"], env, tmp_path / "alerts.log")) as svc:
        wait_for(lambda: db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigie-alerts-engine'"
            " AND datname = current_database()").fetchone() == (1,), timeout=30)
        add_rain(db, "thourotte-mairie", datetime.now(UTC) - timedelta(minutes=1), 20.0)
        db.execute(
            "INSERT INTO device_status (station_id, last_seen, online, status_changed_at)"
            " VALUES ('thourotte-mairie', now(), true, now())"
            " ON CONFLICT (station_id) DO UPDATE SET last_seen = now()"
        )
        db.execute("SELECT pg_notify('vigie_readings', %s)",
                   (json.dumps({"stations": ["thourotte-mairie"], "wet": [], "worker": "t"}),))
        wait_for(lambda: [k for _, k, *_ in changes(db)] == ["opened"], timeout=15, interval=0.2)
        assert svc.proc is not None and svc.proc.poll() is None
    assert "Traceback" not in svc.log()
