"""The notifier against a real TimescaleDB, a real SMTP server and the SMSEagle stand-in.

Incident changes are written by the real engine (alerts.engine, driven with injected times) or,
for reminders and catchments, by rows shaped exactly as the engine writes them.
"""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.dispatch import backoff_s, due_time, quiet_until
from simulators.sinks import SmsSink, SmtpSink
from tests.alerts.notify_helpers import (
    RootLog,
    add_change,
    add_subscriber,
    alerts_service,
    deliveries,
    dispatching,
    now_utc,
    rain_and_evaluate,
    resolve_all,
    sinks,
    states,
    wait_settled,
)
from tests.alerts.rain import only_rules
from tests.factories import make_station
from tests.support import running, wait_for

Conn = psycopg.Connection[Any]
PARIS = ZoneInfo("Europe/Paris")
SECRET = "tok-S3cr3t-4f9a"


def _texts(sms: SmsSink, to: str) -> list[str]:
    return [m["text"] for m in sms.messages if m["to"] == to]


def _subjects(smtp: SmtpSink, to: str) -> list[str]:
    return [m["subject"] for m in smtp.messages if to in m["rcpt_tos"]]


def _setup(db: Conn, *stations: tuple[str, str]) -> None:
    for sid, commune in stations or (("thourotte-mairie", "60636"),):
        make_station(db, sid, commune=commune)
    only_rules(db, "Cumul 1 h%")


# -- pure policy ----------------------------------------------------------------------------------
def test_quiet_hours_span_midnight_and_follow_the_subscriber_timezone() -> None:
    q = (time(22, 0), time(7, 0), "Europe/Paris")
    winter_night = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert quiet_until(winter_night, *q) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    early = datetime(2026, 1, 11, 4, 0, tzinfo=UTC)  # 05:00 in Paris
    assert quiet_until(early, *q) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 1, 11, 12, 0, tzinfo=UTC), *q) is None
    summer = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # 23:30 in Paris (UTC+2)
    assert quiet_until(summer, *q) == datetime(2026, 7, 2, 5, 0, tzinfo=UTC)
    day = (time(12, 0), time(14, 0), "America/Cayenne")  # UTC-3
    assert quiet_until(datetime(2026, 1, 10, 16, 0, tzinfo=UTC), *day) == datetime(
        2026, 1, 10, 17, 0, tzinfo=UTC
    )
    assert quiet_until(winter_night, None, None, "Europe/Paris") is None
    assert quiet_until(winter_night, time(22), time(7), "Not/AZone") is not None  # Paris fallback


def test_due_time_red_ignores_quiet_hours_and_orange_never_waits_for_grouping() -> None:
    now = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)
    quiet = (time(22, 0), time(7, 0), "Europe/Paris")
    morning = datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    assert due_time(now, "opened", "red", 30, quiet) == now
    assert due_time(now, "reminder", "red", 30, quiet) == now
    assert due_time(now, "opened", "orange", 30, quiet) == morning
    assert due_time(now, "resolved", "red", 30, quiet) == morning
    noon = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)
    assert due_time(noon, "opened", "orange", 30, quiet) == noon
    assert due_time(noon, "escalated", "red", 30, None) == noon
    assert due_time(noon, "opened", "yellow", 30, quiet) == noon + timedelta(seconds=30)
    assert due_time(noon, "deescalated", "yellow", 30, None) == noon + timedelta(seconds=30)
    assert due_time(noon, "resolved", "orange", 30, None) == noon + timedelta(seconds=30)
    assert [backoff_s(n, 30, 600) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, 600]


# -- the real `vigie alerts` process ------------------------------------------------------------
def test_storm_replay_sends_exactly_the_expected_messages(
    db: Conn, alerts_url: str, tmp_path: Path
) -> None:
    _setup(db)
    smtp, sms = SmtpSink().start(), SmsSink(token=SECRET).start()
    try:
        add_subscriber(
            db,
            "Mairie de Thourotte",
            [
                {"kind": "email", "url": smtp.apprise_url("mairie@thourotte.example")},
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
            ],
            communes=("60636",),
        )
        add_subscriber(
            db,
            "Élu de Marest",
            [{"kind": "sms", "url": sms.apprise_url("+33622222222")}],
            communes=("60378",),
        )
        add_subscriber(
            db,
            "Cellule de crise",
            [{"kind": "email", "url": smtp.apprise_url("crise@ccdv.example")}],
            min_level="orange",
        )
        svc = alerts_service(alerts_url, tmp_path / "alerts.log")
        t = now_utc()
        with running(svc, ready="notifier ready"):
            rain_and_evaluate(db, "thourotte-mairie", 18.0, t - timedelta(minutes=2))
            wait_for(lambda: len(sms.messages) == 1, timeout=20)
            rain_and_evaluate(db, "thourotte-mairie", 14.0, t - timedelta(minutes=1))
            wait_for(lambda: len(smtp.messages) == 3, timeout=20)
            resolve_all(db, "thourotte-mairie", t)
            wait_for(lambda: len(smtp.messages) == 5 and len(sms.messages) == 3, timeout=20)
            wait_settled(db)
        texts = _texts(sms, "+33611111111")
        assert [x.split(":")[0] for x in texts] == [
            "Vigie ALERTE JAUNE Thourotte",
            "Vigie ALERTE ORANGE Thourotte",
            "Vigie FIN D'ALERTE Thourotte",
        ]
        assert "18 mm en 1 h" in texts[0] and "Limitez vos trajets" in texts[1]
        assert all("https://vigie.example.org/incidents/1" in x for x in texts)
        assert _texts(sms, "+33622222222") == []
        assert [s.split(" - ")[0] for s in _subjects(smtp, "mairie@thourotte.example")] == [
            "[Vigie] Alerte jaune",
            "[Vigie] Alerte orange",
            "[Vigie] Fin d'alerte",
        ]
        assert [s.split(" - ")[0] for s in _subjects(smtp, "crise@ccdv.example")] == [
            "[Vigie] Alerte orange",
            "[Vigie] Fin d'alerte",
        ]
        # What was stored is exactly what was sent.
        stored = [
            m for (m,) in db.execute("SELECT message FROM deliveries WHERE channel_kind = 'sms' ORDER BY id")
        ]
        assert stored == texts
        log_rows = db.execute(
            "SELECT subscriber_name, channel_kind, purpose, outcome FROM incident_delivery_log"
            " WHERE incident_id = 1 ORDER BY at"
        ).fetchall()
        assert len(log_rows) == 8 and {r[3] for r in log_rows} == {"accepted"}
        assert SECRET not in svc.log() and "+33611111111" not in svc.log()
        assert "Traceback" not in svc.log()
    finally:
        sms.stop()
        smtp.stop()


def test_killed_mid_storm_and_restarted_sends_nothing_twice_and_misses_nothing(
    db: Conn, alerts_url: str, tmp_path: Path
) -> None:
    _setup(db)
    smtp, sms = SmtpSink().start(), SmsSink(token=SECRET).start()
    try:
        add_subscriber(
            db,
            "Mairie",
            [
                {"kind": "email", "url": smtp.apprise_url("mairie@thourotte.example")},
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
            ],
            communes=("60636",),
        )
        add_subscriber(db, "Voisin", [{"kind": "sms", "url": sms.apprise_url("+33633333333")}])
        opts = {"max_attempts": 1000, "lease_s": 3.0}
        t = now_utc()
        first = alerts_service(alerts_url, tmp_path / "alerts1.log", **opts)
        with running(first, ready="notifier ready"):
            rain_and_evaluate(db, "thourotte-mairie", 18.0, t - timedelta(minutes=3))
            wait_for(lambda: len(sms.messages) == 2 and len(smtp.messages) == 1, timeout=20)
            # The providers go down; the storm goes on: the orange cannot get through.
            smtp.stop()
            sms.failing = True
            rain_and_evaluate(db, "thourotte-mairie", 14.0, t - timedelta(minutes=2))
            wait_for(
                lambda: (
                    db.execute(
                        "SELECT count(DISTINCT delivery_id) FROM delivery_attempts WHERE outcome = 'retry'"
                    ).fetchone()
                    == (3,)
                ),
                timeout=20,
            )
            assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        # While the notifier is dead, the storm turns red.
        rain_and_evaluate(db, "thourotte-mairie", 20.0, t - timedelta(minutes=1))
        smtp.start()
        sms.failing = False
        second = alerts_service(alerts_url, tmp_path / "alerts2.log", **opts)
        with running(second, ready="notifier ready"):
            wait_settled(db, timeout=30)
        rows = db.execute(
            "SELECT id, subscriber_id, channel_index, state, grouped_into FROM deliveries"
        ).fetchall()
        assert len(rows) == 9 and {r[3] for r in rows} == {"accepted"}
        # One message per group leader and channel: no double, no gap.
        expected: dict[tuple[int, int], int] = {}
        for _, sub, idx, _, into in rows:
            if into is None:
                expected[(sub, idx)] = expected.get((sub, idx), 0) + 1
        assert len(_texts(sms, "+33611111111")) == expected[(1, 1)]
        assert len(_texts(sms, "+33633333333")) == expected[(2, 0)]
        assert len(smtp.messages) == expected[(1, 0)]
        for to in ("+33611111111", "+33633333333"):
            texts = _texts(sms, to)
            assert len(set(texts)) == len(texts)
            assert "ROUGE" in texts[-1]
        assert SECRET not in first.log() + second.log()
    finally:
        sms.stop()
        smtp.stop()


@pytest.mark.slow
def test_smtp_down_for_a_minute_then_delivered_once(db: Conn, alerts_url: str) -> None:
    _setup(db)
    with sinks() as (smtp, sms):
        add_subscriber(
            db,
            "Mairie",
            [
                {"kind": "email", "url": smtp.apprise_url("mairie@thourotte.example")},
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
            ],
            communes=("60636",),
        )
        smtp.stop()
        with dispatching(alerts_url, retry_base_s=2.0, retry_max_s=8.0, max_attempts=100):
            rain_and_evaluate(db, "thourotte-mairie", 18.0, now_utc())
            wait_for(lambda: len(sms.messages) == 1, timeout=10)
            wait_for(
                lambda: datetime.now(UTC).timestamp() - sms.messages[0]["received_at"] > 60,
                timeout=70,
                interval=0.5,
            )
            assert smtp.messages == []
            smtp.start()
            wait_for(lambda: len(smtp.messages) == 1, timeout=20)
            wait_settled(db)
            assert len(smtp.messages) == 1 and len(sms.messages) == 1
        outcomes = [
            o
            for (o,) in db.execute(
                "SELECT outcome FROM incident_delivery_log WHERE channel_kind = 'email' ORDER BY at"
            )
        ]
        assert outcomes[-1] == "accepted" and set(outcomes[:-1]) == {"retry"}
        assert len(outcomes) >= 5
        detail = db.execute("SELECT detail FROM delivery_attempts WHERE outcome = 'retry' LIMIT 1").fetchone()
        assert detail is not None and "serveur injoignable" in detail[0]


# -- in-process dispatcher ----------------------------------------------------------------------
def test_quiet_hours_hold_yellow_until_morning_but_red_goes_now(db: Conn, alerts_url: str) -> None:
    _setup(db, ("thourotte-mairie", "60636"), ("thourotte-gare", "60636"))
    local = datetime.now(PARIS)
    start, end = (local - timedelta(hours=1)).time(), (local + timedelta(hours=2)).time()
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    with sinks() as (_smtp, sms):
        add_subscriber(
            db,
            "Dort la nuit",
            [{"kind": "sms", "url": sms.apprise_url("+33611111111")}],
            communes=("60636",),
            quiet=(start, end),
        )
        t = now_utc()
        with dispatching(alerts_url):
            rain_and_evaluate(db, "thourotte-gare", 18.0, t)
            wait_for(lambda: states(db) == {"pending": 1}, timeout=10)
            rain_and_evaluate(db, "thourotte-mairie", 50.0, t)
            wait_for(lambda: len(sms.messages) == 1, timeout=10)
            assert sms.messages[0]["text"].startswith("Vigie ALERTE ROUGE")
        not_before = db.execute("SELECT not_before FROM deliveries WHERE level = 'yellow'").fetchone()
        assert not_before is not None
        expected = quiet_until(datetime.now(UTC), start, end, "Europe/Paris")
        assert expected is not None and abs((not_before[0] - expected).total_seconds()) < 120
        assert states(db) == {"pending": 1, "accepted": 1}


def test_grouping_merges_yellow_opens_of_one_commune(db: Conn, alerts_url: str) -> None:
    stations = [(f"thourotte-{i}", "60636") for i in range(3)]
    _setup(db, *stations)
    with sinks() as (smtp, sms):
        add_subscriber(
            db,
            "Mairie",
            [
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
                {"kind": "email", "url": smtp.apprise_url("mairie@thourotte.example")},
            ],
            communes=("60636",),
        )
        t = now_utc()
        with dispatching(alerts_url, group_hold_s=3.0):
            for sid, _ in stations:
                rain_and_evaluate(db, sid, 18.0, t)
            wait_settled(db)
        assert len(sms.messages) == 1 and len(smtp.messages) == 1
        text = sms.messages[0]["text"]
        assert text.startswith("Vigie ALERTE JAUNE") and len(text) <= 160
        assert text.startswith("Vigie ALERTE JAUNE Thourotte: ") and "Evitez souterrains" in text
        assert smtp.messages[0]["subject"] == "[Vigie] Alerte jaune - Thourotte - 3 messages"
        assert smtp.messages[0]["body"].count("ALERTE JAUNE - ") == 3
        rows = deliveries(db)
        assert {r[5] for r in rows} == {"accepted"}
        assert sum(1 for r in rows if r[6] is None) == 2  # one leader per channel


def test_new_orange_is_never_held_and_takes_pending_yellows_along(db: Conn, alerts_url: str) -> None:
    stations = [(f"thourotte-{i}", "60636") for i in range(3)]
    _setup(db, *stations)
    with sinks() as (_smtp, sms):
        add_subscriber(
            db, "Mairie", [{"kind": "sms", "url": sms.apprise_url("+33611111111")}], communes=("60636",)
        )
        t = now_utc()
        # A hold far longer than the test: only an immediate send can pass.
        with dispatching(alerts_url, group_hold_s=600.0):
            rain_and_evaluate(db, "thourotte-0", 18.0, t)
            rain_and_evaluate(db, "thourotte-1", 18.0, t)
            wait_for(lambda: states(db) == {"pending": 2}, timeout=10)
            rain_and_evaluate(db, "thourotte-2", 35.0, t)
            wait_for(lambda: len(sms.messages) == 1, timeout=10)
            wait_for(lambda: states(db) == {"accepted": 3}, timeout=10)
        text = sms.messages[0]["text"]
        assert text.startswith("Vigie ALERTE ORANGE")
        rows = db.execute("SELECT id, level, grouped_into FROM deliveries ORDER BY id").fetchall()
        leader = next(r[0] for r in rows if r[1] == "orange")
        assert [r[2] for r in rows if r[1] == "yellow"] == [leader, leader]


def test_end_of_alert_only_to_those_warned(db: Conn, alerts_url: str) -> None:
    _setup(db)
    with sinks() as (_smtp, sms):
        add_subscriber(
            db, "Tout", [{"kind": "sms", "url": sms.apprise_url("+33611111111")}], communes=("60636",)
        )
        add_subscriber(
            db,
            "Orange seulement",
            [{"kind": "sms", "url": sms.apprise_url("+33644444444")}],
            communes=("60636",),
            min_level="orange",
        )
        t = now_utc()
        with dispatching(alerts_url):
            rain_and_evaluate(db, "thourotte-mairie", 18.0, t)
            wait_settled(db)
            resolve_all(db, "thourotte-mairie", t)
            wait_settled(db)
        assert [x.split(":")[0] for x in _texts(sms, "+33611111111")] == [
            "Vigie ALERTE JAUNE Thourotte",
            "Vigie FIN D'ALERTE Thourotte",
        ]
        assert _texts(sms, "+33644444444") == []


def test_reminder_of_unacknowledged_red(db: Conn, alerts_url: str) -> None:
    _setup(db)
    with sinks() as (smtp, sms):
        add_subscriber(
            db,
            "Maire",
            [
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
                {"kind": "email", "url": smtp.apprise_url("maire@thourotte.example")},
            ],
            communes=("60636",),
            quiet=(time(0, 0), time(23, 59)),
        )
        t = now_utc()
        with dispatching(alerts_url):
            rain_and_evaluate(db, "thourotte-mairie", 50.0, t)
            wait_for(lambda: len(sms.messages) == 1, timeout=10)
            add_change(db, 1, "reminder", "red", "Rappel — vigilance rouge non prise en compte")
            wait_for(lambda: len(sms.messages) == 2 and len(smtp.messages) == 2, timeout=10)
        assert sms.messages[1]["text"].startswith("Vigie RAPPEL ALERTE ROUGE")
        assert smtp.messages[1]["subject"].startswith("[Vigie] Rappel alerte rouge")
        purposes = [r[3] for r in deliveries(db)]
        assert purposes.count("reminder") == 2


def test_test_send_reaches_every_channel(db: Conn, alerts_url: str) -> None:
    with sinks() as (smtp, sms):
        sub = add_subscriber(
            db,
            "Mairie de Pimprez",
            [
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
                {"kind": "email", "url": smtp.apprise_url("mairie@pimprez.example")},
            ],
            communes=("60492",),
        )
        with dispatching(alerts_url):
            ids = [i for (i,) in db.execute("SELECT vigie_request_test_send(%s, 'technicien')", (sub,))]
            assert len(ids) == 2
            wait_for(lambda: len(sms.messages) == 1 and len(smtp.messages) == 1, timeout=10)
            wait_settled(db)
        assert "TEST" in sms.messages[0]["text"]
        assert smtp.messages[0]["subject"] == "[Vigie] Message de test"
        assert "à la demande de technicien" in smtp.messages[0]["body"]
        assert states(db) == {"accepted": 2}


def test_refused_by_the_gateway_retries_then_gives_up(db: Conn, alerts_url: str) -> None:
    _setup(db)
    with sinks() as (smtp, sms):
        add_subscriber(
            db,
            "Mairie",
            [
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
                {"kind": "email", "url": smtp.apprise_url("mairie@thourotte.example")},
            ],
            communes=("60636",),
        )
        sms.failing = True
        with dispatching(alerts_url, max_attempts=3):
            rain_and_evaluate(db, "thourotte-mairie", 35.0, now_utc())
            wait_settled(db)
        log_rows = db.execute(
            "SELECT channel_kind, outcome, detail FROM incident_delivery_log ORDER BY at"
        ).fetchall()
        sms_rows = [(o, d) for k, o, d in log_rows if k == "sms"]
        assert [o for o, _ in sms_rows] == ["retry", "retry", "given_up"]
        assert "HTTP 503" in sms_rows[0][1] and "abandon après 3 essais" in sms_rows[-1][1]
        assert [o for k, o, _ in log_rows if k == "email"] == ["accepted"]
        assert len(smtp.messages) == 1 and sms.messages == []


def test_bad_channel_url_is_refused_and_the_others_still_go(db: Conn, alerts_url: str) -> None:
    _setup(db)
    root_log = RootLog()
    with sinks() as (smtp, sms):
        add_subscriber(
            db,
            "Mal saisi",
            [
                {"kind": "sms", "url": f"nosuchsms://{SECRET}@example.org/+33611111111"},
                {"kind": "sms", "url": f"mailto://{SECRET}@example.org"},
                {"kind": "email", "url": smtp.apprise_url("ok@thourotte.example")},
            ],
            communes=("60636",),
        )
        add_subscriber(
            db, "Voisin", [{"kind": "sms", "url": sms.apprise_url("+33622222222")}], communes=("60636",)
        )
        with root_log, dispatching(alerts_url):
            rain_and_evaluate(db, "thourotte-mairie", 35.0, now_utc())
            wait_settled(db)
        rows = db.execute(
            "SELECT subscriber_name, channel_index, outcome, detail FROM incident_delivery_log"
            " ORDER BY subscriber_id, channel_index"
        ).fetchall()
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("Mal saisi", 0, "refused"),
            ("Mal saisi", 1, "refused"),
            ("Mal saisi", 2, "accepted"),
            ("Voisin", 0, "accepted"),
        ]
        assert "n'est pas un fournisseur SMS connu" in rows[0][3]
        assert "n'est pas un fournisseur SMS" in rows[1][3]
        assert len(smtp.messages) == 1 and len(sms.messages) == 1
        everything = root_log.text + json.dumps(
            [list(map(str, r)) for r in db.execute("SELECT * FROM delivery_attempts").fetchall()]
        )
        assert SECRET not in everything


def test_catchment_upstream_whole_territory_and_audience_matching(db: Conn, alerts_url: str) -> None:
    db.execute(
        "INSERT INTO catchments (id, name, area_km2, cn2, upstream) VALUES"
        " ('matz-amont', 'Matz amont', 20, 70, '{}'),"
        " ('matz-aval', 'Matz aval', 40, 70, '{matz-amont}')"
    )
    with sinks() as (_smtp, sms):
        add_subscriber(
            db, "Aval", [{"kind": "sms", "url": sms.apprise_url("+33611111111")}], catchments=("matz-aval",)
        )
        add_subscriber(
            db, "Amont", [{"kind": "sms", "url": sms.apprise_url("+33622222222")}], catchments=("matz-amont",)
        )
        add_subscriber(db, "Territoire", [{"kind": "sms", "url": sms.apprise_url("+33633333333")}])
        add_subscriber(
            db,
            "Technicien",
            [{"kind": "sms", "url": sms.apprise_url("+33644444444")}],
            audience="technicians",
        )
        add_subscriber(
            db, "Ailleurs", [{"kind": "sms", "url": sms.apprise_url("+33655555555")}], communes=("60492",)
        )
        row = db.execute(
            "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, communes,"
            " catchment_id, title, opened_at, updated_at, level_since, max_level, last_value,"
            " window_min) VALUES ('runoff', 'runoff:q', 'catchment', 'matz-amont', 'orange',"
            " '{60378}', 'matz-amont', 'Ruissellement 24 h — bassin Matz amont', now(), now(),"
            " now(), 'orange', 16, 1440) RETURNING id"
        ).fetchone()
        assert row is not None
        db.execute(
            "INSERT INTO incident_changes (incident_id, at, kind, level, value, window_min, detail)"
            " VALUES (%s, now(), 'opened', 'orange', 16, 1440, %s)",
            (row[0], json.dumps({"unit": "mm", "summary": "16 mm ruisselés"})),
        )
        with dispatching(alerts_url):
            wait_for(lambda: len(sms.messages) == 3, timeout=10)
            wait_settled(db)
        assert sorted(m["to"] for m in sms.messages) == ["+33611111111", "+33622222222", "+33633333333"]
        assert "Marest-sur-Matz" in sms.messages[0]["text"]


def _sms_residents(db: Conn, sms: SmsSink, n: int, prefix: str) -> None:
    """n residents of Thourotte, each with one SMS channel to `prefix` + an 8-digit number."""
    for i in range(n):
        add_subscriber(
            db,
            f"Habitant {i}",
            [{"kind": "sms", "url": sms.apprise_url(f"{prefix}{i:08d}")}],
            communes=("60636",),
        )


def test_fan_out_to_many_subscribers(db: Conn, alerts_url: str) -> None:
    _setup(db)
    with sinks() as (_smtp, sms):
        _sms_residents(db, sms, 200, "+336")
        with dispatching(alerts_url, workers=16):
            rain_and_evaluate(db, "thourotte-mairie", 35.0, now_utc())
            wait_for(lambda: len(sms.messages) == 200, timeout=60)
            wait_settled(db)
        assert len({m["to"] for m in sms.messages}) == 200
        assert states(db) == {"accepted": 200}


def _notifier_connections(db: Conn) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'vigie-notifier'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_fan_out_keeps_the_notifier_to_a_few_connections_and_gives_them_back(
    db: Conn, alerts_url: str
) -> None:
    """Issue 14's soak: sixteen concurrent senders grew the pool to 11 connections, kept for
    10 min each. A worker holds its connection only around a send, so a few serve them all;
    after a quiet spell the pool is back to one (plus the LISTEN connection)."""
    _setup(db)
    with sinks() as (_smtp, sms):
        _sms_residents(db, sms, 120, "+337")
        with dispatching(alerts_url, workers=16, db_connections=3, notifier_idle_s=1.0):
            rain_and_evaluate(db, "thourotte-mairie", 35.0, now_utc())
            seen: list[int] = []

            def all_sent() -> bool:
                seen.append(_notifier_connections(db))
                return len(sms.messages) == 120

            wait_for(all_sent, timeout=90)
            wait_settled(db)
            assert max(seen) <= 3 + 1, seen  # the pool's 3 and the LISTEN connection
            # Idle: one connection closed per notifier_idle_s until min_size (1) is left.
            wait_for(lambda: _notifier_connections(db) == 2, timeout=20)
        assert len({m["to"] for m in sms.messages}) == 120
        assert states(db) == {"accepted": 120}
