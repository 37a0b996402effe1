"""The bucketed rain series and the streamed readings exports, on the real database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import httpx2
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from tests.api.conftest import ADMIN
from tests.api.live_server import serving
from tests.factories import make_station
from vigie.settings import Settings

Db = psycopg.Connection[tuple[object, ...]]
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _reading(db: Db, station: str, ts: datetime, mm: float | None, flags: int = 0) -> None:
    db.execute(
        "INSERT INTO rain_readings (station_id, ts, interval_s, seq, tips, mm, battery_v, rssi, flags,"
        " received_at) VALUES (%s, %s, 60, 1, %s, %s, 3.85, -71, %s, %s)",
        (station, ts, None if mm is None else round(mm / 0.2), mm, flags, ts + timedelta(seconds=2)),
    )


def _rollup(db: Db, table: str, station: str, bucket: datetime, mm: float) -> None:
    query = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, 1)").format(sql.Identifier(table))
    db.execute(query, (station, bucket, mm))


def _series(client: TestClient, station: str, step: str, start: datetime, end: datetime) -> httpx2.Response:
    return client.get(
        f"/api/v1/stations/{station}/series",
        params={"from": start.isoformat(), "to": end.isoformat(), "step": step},
        headers=ADMIN,
    )


def test_one_minute_series_reads_raw_readings(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    # ts is the end of the interval: 10:01 counts in the 10:00 minute, 10:03:30 in 10:03.
    _reading(db, st, T0 + timedelta(minutes=1), 0.4)
    _reading(db, st, T0 + timedelta(minutes=3, seconds=30), 0.0)
    r = _series(client, st, "1min", T0, T0 + timedelta(minutes=5))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "rain_readings"
    assert [b["depth_mm"] for b in body["buckets"]] == [0.4, None, None, 0.0, None]
    assert [b["cumulative_mm"] for b in body["buckets"]] == [0.4, 0.4, 0.4, 0.4, 0.4]
    assert [b["intensity_mm_h"] for b in body["buckets"]] == [24.0, None, None, 0.0, None]
    assert body["total_mm"] == 0.4


def test_minute_steps_sum_the_5min_rollup(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    _rollup(db, "rain_5min", st, T0, 1.0)
    _rollup(db, "rain_5min", st, T0 + timedelta(minutes=10), 0.5)
    _rollup(db, "rain_5min", st, T0 + timedelta(minutes=30), 2.0)
    # A raw reading that is not in the rollup: the 15 min step must not read raw rows.
    _reading(db, st, T0 + timedelta(minutes=20), 9.0)
    r = _series(client, st, "15min", T0, T0 + timedelta(minutes=60)).json()
    assert r["source"] == "rain_5min"
    assert [b["depth_mm"] for b in r["buckets"]] == [1.5, None, 2.0, None]
    assert [b["intensity_mm_h"] for b in r["buckets"]] == [6.0, None, 8.0, None]
    assert [b["cumulative_mm"] for b in r["buckets"]] == [1.5, 1.5, 3.5, 3.5]
    half = _series(client, st, "30min", T0, T0 + timedelta(minutes=60)).json()
    assert [b["depth_mm"] for b in half["buckets"]] == [1.5, 2.0]
    five = _series(client, st, "5min", T0, T0 + timedelta(minutes=15)).json()
    assert [b["depth_mm"] for b in five["buckets"]] == [1.0, None, 0.5]


def test_hour_steps_sum_the_hourly_rollup(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    _rollup(db, "rain_1h", st, midnight + timedelta(hours=1), 3.0)
    _rollup(db, "rain_1h", st, midnight + timedelta(hours=2), 3.0)
    _rollup(db, "rain_1h", st, midnight + timedelta(hours=7), 1.2)
    three = _series(client, st, "3h", midnight, midnight + timedelta(hours=9)).json()
    assert three["source"] == "rain_1h"
    assert [b["depth_mm"] for b in three["buckets"]] == [6.0, None, 1.2]
    assert [b["intensity_mm_h"] for b in three["buckets"]] == [2.0, None, 0.4]
    six = _series(client, st, "6h", midnight, midnight + timedelta(hours=12)).json()
    assert [b["depth_mm"] for b in six["buckets"]] == [6.0, 1.2]
    one = _series(client, st, "1h", midnight, midnight + timedelta(hours=3)).json()
    assert [b["depth_mm"] for b in one["buckets"]] == [None, 3.0, 3.0]
    assert [b["cumulative_mm"] for b in one["buckets"]] == [None, 3.0, 6.0]


def test_days_are_local_days_including_the_dst_change(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    # 25 Oct 2026 is a 25-hour day in Paris (clocks go back): 23:30 UTC on the 25th is the 26th.
    _rollup(db, "rain_1h", st, datetime(2026, 10, 25, 23, 0, tzinfo=UTC), 2.5)
    _rollup(db, "rain_1h", st, datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 5.0)  # 00:00 CEST, 25th
    r = client.get(
        f"/api/v1/stations/{st}/series",
        params={"from": "2026-10-25T00:00:00+02:00", "to": "2026-10-27T00:00:00+01:00", "step": "1d"},
        headers=ADMIN,
    ).json()
    starts = [datetime.fromisoformat(b["start"]) for b in r["buckets"]]
    assert starts == [datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)]
    assert r["buckets"][0]["start"] == "2026-10-25T00:00:00+02:00"  # in the local zone, with offset
    assert [b["depth_mm"] for b in r["buckets"]] == [5.0, 2.5]
    assert r["buckets"][0]["intensity_mm_h"] == round(5.0 / 25, 3)  # a 25-hour day
    assert r["total_mm"] == 7.5


def test_series_bad_input_is_a_clear_error(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    url = f"/api/v1/stations/{st}/series"
    cases = [
        {"step": "2h"},
        {"step": "1min" * 1000},
        {"from": "not-a-date"},
        {"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T09:00:00Z"},
        {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "step": "1min"},
        {"from": "2026-11-20T10:00:00", "to": "2026-11-20T12:00:00"},
        {"from": "1700000000"},
    ]
    for params in cases:
        r = client.get(url, params=params, headers=ADMIN)
        assert r.status_code == 422, (params, r.text)
        assert isinstance(r.json()["detail"], str)
    assert client.get("/api/v1/stations/nope/series", headers=ADMIN).status_code == 404
    assert client.get(url).status_code == 401


def test_csv_export_is_french_and_audited(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    _reading(db, st, T0 + timedelta(minutes=1), 0.4)
    _reading(db, st, T0 + timedelta(minutes=2), None, flags=1)
    _reading(db, st, T0 + timedelta(hours=5), 1.0)  # outside the range
    params = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    r = client.get(f"/api/v1/stations/{st}/export.csv", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:3] == ["station", "horodatage", "intervalle_s"]
    assert "recu_le" in rows[0]
    assert len(rows) == 3
    assert rows[1][1] == "2026-11-20T11:01:00+01:00"  # Paris time, with its offset
    assert rows[1][rows[0].index("pluie_mm")] == "0,4"
    assert rows[1][rows[0].index("batterie_v")] == "3,85"
    assert rows[2][rows[0].index("pluie_mm")] == ""
    assert rows[2][rows[0].index("qualite")] != ""
    dotted = client.get(
        f"/api/v1/stations/{st}/export.csv", params={**params, "sep": ",", "decimal": "."}, headers=ADMIN
    )
    drows = list(csv.reader(io.StringIO(dotted.content.decode()[1:])))
    assert drows[1][drows[0].index("pluie_mm")] == "0.4"
    audit = db.execute("SELECT action, actor, target FROM audit_log WHERE action = 'export'").fetchall()
    assert len(audit) == 2
    assert audit[0][1] == "admin" and str(audit[0][2]).endswith("/export.csv")


def test_json_export(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    _reading(db, st, T0 + timedelta(minutes=1), 0.4)
    _reading(db, st, T0 + timedelta(minutes=2), 0.2)
    params = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    body = client.get(f"/api/v1/stations/{st}/export.json", params=params, headers=ADMIN).json()
    assert body["station"] == st and body["timezone"] == "Europe/Paris"
    assert [x["mm"] for x in body["readings"]] == [0.4, 0.2]
    assert body["readings"][0]["ts"] == "2026-11-20T11:01:00+01:00"
    empty = client.get(
        f"/api/v1/stations/{st}/export.json",
        params={"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"},
        headers=ADMIN,
    ).json()
    assert empty["readings"] == []


def test_export_bad_input(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    for path in ("export.csv", "export.json"):
        url = f"/api/v1/stations/{st}/{path}"
        assert client.get(url).status_code == 401
        assert client.get(f"/api/v1/stations/nope/{path}", headers=ADMIN).status_code == 404
        bad = client.get(
            url, params={"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T09:00:00Z"}, headers=ADMIN
        )
        assert bad.status_code == 422
        assert client.get(url, params={"from": "x"}, headers=ADMIN).status_code == 422
    csv_url = f"/api/v1/stations/{st}/export.csv"
    assert client.get(csv_url, params={"sep": ",", "decimal": ","}, headers=ADMIN).status_code == 422
    assert client.get(csv_url, params={"sep": "|"}, headers=ADMIN).status_code == 422
    assert client.get(csv_url, params={"decimal": ";"}, headers=ADMIN).status_code == 422
    # Refused exports are not audited as done.
    assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone() == (0,)


@pytest.fixture
def live_api(api_settings: Settings) -> Iterator[str]:
    """A real uvicorn (TestClient buffers whole bodies, so it cannot show streaming)."""
    with serving(api_settings) as url:
        yield url


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_export_streams(live_api: str, db: Db) -> None:
    st = make_station(db).id
    rows = 200_000
    db.execute(
        "INSERT INTO rain_readings (station_id, ts, interval_s, seq, tips, mm, battery_v, rssi, flags,"
        " received_at) SELECT %s, %s::timestamptz + g * interval '1 minute', 60, g, g %% 3,"
        " (g %% 3) * 0.2, 3.9, -70, 0, %s::timestamptz + g * interval '1 minute'"
        " FROM generate_series(1, %s) g",
        (st, T0, T0, rows),
    )
    params = {"from": T0.isoformat(), "to": (T0 + timedelta(days=200)).isoformat()}
    with httpx.Client(base_url=live_api, headers=ADMIN, timeout=60) as http:
        # A warm-up of 20,000 rows, so that first-use allocations are not counted as growth.
        warm = {"from": T0.isoformat(), "to": (T0 + timedelta(minutes=20_000)).isoformat()}
        assert len(http.get(f"/api/v1/stations/{st}/export.csv", params=warm).content) > 1_000_000
    before = _rss_kib()
    peak = before
    with httpx.Client(base_url=live_api, headers=ADMIN, timeout=60) as http:
        with http.stream("GET", f"/api/v1/stations/{st}/export.csv", params=params) as r:
            assert r.status_code == 200
            chunks = r.iter_bytes()
            first = next(chunks)
            got, lines = len(first), first.count(b"\n")
            while got < 100_000:
                chunk = next(chunks)
                got, lines = got + len(chunk), lines + chunk.count(b"\n")
            # The first bytes are here and the server is still reading: its cursor is open.
            fetching = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%vigie_export%%'"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
            assert fetching == (1,)
            total = got
            for chunk in chunks:
                total += len(chunk)
                lines += chunk.count(b"\n")
                peak = max(peak, _rss_kib())
    assert first.startswith("\ufeff".encode())
    assert total > 10_000_000
    # Loose: the export is > 10 MB of text; the process (test + server) must not grow by that.
    assert (peak - before) * 1024 < total / 2, (before, peak, total)
    assert lines == rows + 1  # the header and every row


def test_json_export_of_a_large_range_is_valid(live_api: str, db: Db) -> None:
    st = make_station(db).id
    db.execute(
        "INSERT INTO rain_readings (station_id, ts, interval_s, mm, flags, received_at)"
        " SELECT %s, %s::timestamptz + g * interval '1 minute', 60, 0.2, 0, now()"
        " FROM generate_series(1, 5000) g",
        (st, T0),
    )
    params = {"from": T0.isoformat(), "to": (T0 + timedelta(days=10)).isoformat()}
    with httpx.Client(base_url=live_api, headers=ADMIN, timeout=60) as http:
        body = json.loads(http.get(f"/api/v1/stations/{st}/export.json", params=params).content)
    assert len(body["readings"]) == 5000
