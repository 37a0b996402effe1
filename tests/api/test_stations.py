"""Stations and rain totals through the HTTP API, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN
from tests.factories import make_station


def _rollup(db: psycopg.Connection[tuple[object, ...]], station: str, bucket: datetime, mm: float) -> None:
    db.execute("INSERT INTO rain_5min VALUES (%s, %s, %s, 1)", (station, bucket, mm))
    hour = bucket.replace(minute=0)
    db.execute(
        "INSERT INTO rain_1h VALUES (%s, %s, %s, 1) ON CONFLICT (station_id, bucket)"
        " DO UPDATE SET mm = rain_1h.mm + excluded.mm, readings = rain_1h.readings + 1",
        (station, hour, mm),
    )


def test_list_requires_a_token(client: TestClient, db: psycopg.Connection[tuple[object, ...]]) -> None:
    make_station(db, "thourotte-mairie")
    assert client.get("/api/v1/stations").status_code == 401
    bad = client.get("/api/v1/stations", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    ok = client.get("/api/v1/stations", headers=ADMIN)
    assert ok.status_code == 200
    assert [s["id"] for s in ok.json()] == ["thourotte-mairie"]
    assert ok.json()[0]["commune_name"] == "Thourotte"


def test_rain_buckets_are_null_when_missing_never_zero(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    t0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    _rollup(db, st, t0, 1.2)
    _rollup(db, st, t0 + timedelta(minutes=10), 0.0)
    r = client.get(
        f"/api/v1/stations/{st}/rain",
        params={"from": t0.isoformat(), "to": (t0 + timedelta(minutes=20)).isoformat(), "step": "5min"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert [b["mm"] for b in r.json()["buckets"]] == [1.2, None, 0.0, None]
    assert r.json()["total_mm"] == 1.2
    hourly = client.get(
        f"/api/v1/stations/{st}/rain",
        params={"from": t0.isoformat(), "to": (t0 + timedelta(hours=2)).isoformat(), "step": "1h"},
        headers=ADMIN,
    ).json()
    assert [b["mm"] for b in hourly["buckets"]] == [1.2, None]


def test_daily_buckets_are_local_days(client: TestClient, db: psycopg.Connection[tuple[object, ...]]) -> None:
    st = make_station(db).id
    # 23:30 UTC on 20 Nov is 00:30 on 21 Nov in Paris: it belongs to the Paris day of the 21st.
    _rollup(db, st, datetime(2026, 11, 20, 23, 30, tzinfo=UTC), 2.0)
    r = client.get(
        f"/api/v1/stations/{st}/rain",
        params={"from": "2026-11-20T00:00:00+01:00", "to": "2026-11-22T00:00:00+01:00", "step": "1d"},
        headers=ADMIN,
    ).json()
    assert [b["mm"] for b in r["buckets"]] == [None, 2.0]
    assert r["buckets"][1]["start"].startswith("2026-11-2")


def test_rain_bad_input_is_a_clear_error(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    cases = [
        ({"step": "2h"}, 422),
        ({"from": "not-a-date"}, 422),
        ({"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T09:00:00Z"}, 422),
        ({"from": "2000-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "step": "5min"}, 422),
        ({"from": "2026-11-20T10:00:00", "to": "2026-11-20T12:00:00"}, 422),
    ]
    for params, status in cases:
        r = client.get(f"/api/v1/stations/{st}/rain", params=params, headers=ADMIN)
        assert r.status_code == status, (params, r.text)
        assert r.json()["detail"]
    missing = client.get("/api/v1/stations/'%3B%20DROP%20TABLE%20stations/rain", headers=ADMIN)
    assert missing.status_code == 404
    assert db.execute("SELECT count(*) FROM stations").fetchone() == (1,)


def test_healthz_is_public_and_reports_both_services(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": True, "broker": True, "stalled": 0, "loops": []}


def test_metrics_render_ingest_counters(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    from psycopg.types.json import Jsonb

    from ingest.stats import BatchStats

    stats = BatchStats(messages=10, readings=9, stored=7, duplicates=2, seconds=0.03, lag_s=0.4)
    stats.dead_letters["malformed_json"] += 1
    db.execute("INSERT INTO ingest_metrics VALUES ('w1', now(), %s)", (Jsonb(stats.merge_into({})),))
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers=ADMIN).text
    assert "vigie_ingest_messages_received_total 10.0" in text
    assert "vigie_ingest_readings_stored_total 7.0" in text
    assert "vigie_ingest_duplicates_total 2.0" in text
    assert 'vigie_ingest_dead_letters_total{reason="malformed_json"} 1.0' in text
    assert 'vigie_ingest_batch_seconds_bucket{le="0.05"} 1.0' in text
    assert 'vigie_ingest_lag_seconds{worker="w1"} 0.4' in text


def test_recent_rain_of_every_station_for_the_map(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    wet, retired = make_station(db, "aa-wet").id, make_station(db).id
    make_station(db, "bb-dry")
    db.execute("UPDATE stations SET active = false WHERE id = %s", (retired,))
    to = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    _rollup(db, wet, to - timedelta(minutes=30), 1.0)  # in the hour and the day
    _rollup(db, wet, to - timedelta(hours=5), 2.5)  # in the day only
    _rollup(db, wet, to - timedelta(hours=25), 9.0)  # before the day
    _rollup(db, wet, to, 7.0)  # the bucket starting at `to` is after the span
    _rollup(db, retired, to - timedelta(minutes=30), 4.0)
    r = client.get("/api/v1/rain/recent", params={"to": to.isoformat()}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["to"].startswith("2026-11-20T10:00:00")
    assert body["stations"] == [
        {"station": "aa-wet", "mm_1h": 1.0, "mm_24h": 3.5, "readings_24h": 2},
        {"station": "bb-dry", "mm_1h": None, "mm_24h": None, "readings_24h": 0},
    ]
    assert client.get("/api/v1/rain/recent").status_code == 401


def test_recent_rain_off_the_hour_reads_whole_hours_and_the_edges_alike(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    """The totals read whole hours from rain_1h and the edges from rain_5min: a `to` off the
    hour must count exactly the 5-minute buckets that start in the span, at both edges."""
    sid = make_station(db, "aa-edges").id
    to = datetime(2026, 11, 20, 10, 20, tzinfo=UTC)
    day = to - timedelta(hours=24)
    _rollup(db, sid, day - timedelta(minutes=5), 0.1)  # 10:15 the day before: before the span
    _rollup(db, sid, day + timedelta(minutes=5), 0.2)  # 10:25: the partial first hour
    _rollup(db, sid, day + timedelta(minutes=40), 0.4)  # 11:00: a whole hour
    _rollup(db, sid, to - timedelta(minutes=65), 0.8)  # 09:15: the day, not the last hour
    _rollup(db, sid, to - timedelta(minutes=55), 1.6)  # 09:25: the last hour
    _rollup(db, sid, to - timedelta(minutes=5), 3.2)  # 10:15: starts before `to`
    _rollup(db, sid, to, 6.4)  # 10:20: starts at `to`, after the span
    r = client.get("/api/v1/rain/recent", params={"to": to.isoformat()}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["stations"] == [{"station": "aa-edges", "mm_1h": 4.8, "mm_24h": 6.2, "readings_24h": 5}]


def test_recent_rain_bad_input_is_a_clear_error(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    make_station(db)
    hostile = ("2026-11-20T10:00:00Z' OR '1'='1", "9" * 5000, "0001-01-01T00:00:00Z", "2026-13-01T00:00:00Z")
    for to in ("2026-11-20T10:00:00", "hier", "1700000000", *hostile):
        r = client.get("/api/v1/rain/recent", params={"to": to}, headers=ADMIN)
        assert r.status_code == 422, (to[:40], r.text)
        assert isinstance(r.json()["detail"], str)
    # Far out of any data, yet a valid time: every station, none with rain.
    far = client.get("/api/v1/rain/recent", params={"to": "1900-01-01T00:00:00Z"}, headers=ADMIN)
    assert far.status_code == 200
    assert [s["mm_24h"] for s in far.json()["stations"]] == [None]


def test_series_and_rain_at_the_ends_of_the_calendar_are_not_a_server_error(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    st = make_station(db).id
    for route in ("rain", "series"):
        for start, end in (
            ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"),
            ("9999-12-30T00:00:00Z", "9999-12-31T00:00:00Z"),
        ):
            params = {"from": start, "to": end, "step": "1h"}
            r = client.get(f"/api/v1/stations/{st}/{route}", params=params, headers=ADMIN)
            assert r.status_code in (200, 422), (route, start, r.text)
            if r.status_code == 200:
                assert all(b.get("mm", b.get("depth_mm")) is None for b in r.json()["buckets"])
