"""Device health and the maintenance list, on the real database: each reason appears for a
station built to have it, and a healthy station is not listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN, bearer, role_token
from vigie import device_health, stations
from vigie.device_health import Health

Db = psycopg.Connection[tuple[object, ...]]
# Only for the pure status functions below: rows are dated at the time they are written, since
# the database judges them by its own now() (collection may come minutes before the test runs).
NOW = datetime.now(UTC)
TECH = bearer(role_token("technician"))
DUTY = bearer(role_token("duty"))


def _station(db: Db, sid: str, lat: float, lon: float, *, active: bool = True) -> None:
    stations.add(
        db,
        stations.StationIn(
            id=sid, name=sid, commune_insee="60636", lat=lat, lon=lon, expected_interval_s=300, active=active
        ),
    )


def _status(db: Db, sid: str, *, ago_s: float = 10, online: bool = True, battery: float = 3.9) -> None:
    db.execute(
        "INSERT INTO device_status (station_id, last_seen, battery_v, rssi, fw, online)"
        " VALUES (%s, %s, %s, -70, '1.4.0', %s)",
        (sid, datetime.now(UTC) - timedelta(seconds=ago_s), battery, online),
    )


def _reading(db: Db, sid: str, mm: float, *, ago_h: float = 1, flags: int = 0) -> None:
    ts = datetime.now(UTC) - timedelta(hours=ago_h)
    db.execute(
        "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, flags, received_at)"
        " VALUES (%s, %s, 300, %s, %s, %s, %s)",
        (sid, ts, round(mm / 0.2), mm, flags, ts),
    )


def _dead_letter(db: Db, sid: str, *, ago_h: float = 1) -> None:
    db.execute(
        "INSERT INTO dead_letters (received_at, topic, payload, payload_size, reason, detail, station_id)"
        " VALUES (%s, %s, 'xx', 2, 'invalid_json', 'bad', %s)",
        (datetime.now(UTC) - timedelta(hours=ago_h), f"vigie/v1/gauges/{sid}/up", sid),
    )


@pytest.fixture
def fleet(db: Db) -> None:
    """Around (49.50, 2.90): two wet gauges and gauges each built for one reason; far away, a
    dry gauge with a single wet neighbour (not enough) and a healthy dry one."""
    for sid, lat, lon in (
        ("wet-a", 49.500, 2.900),
        ("wet-b", 49.505, 2.905),
        ("clogged", 49.502, 2.902),
        ("late", 49.501, 2.899),
        ("offline", 49.499, 2.901),
        ("lwt-off", 49.498, 2.898),
        ("never", 49.497, 2.897),
        ("low-batt", 49.800, 2.500),
        ("double", 49.810, 2.510),
        ("dead", 49.820, 2.520),
        ("dead-old", 49.830, 2.530),
        ("lonely-dry", 49.200, 3.200),
        ("lonely-wet", 49.205, 3.205),
    ):
        _station(db, sid, lat, lon)
    _station(db, "retired", 49.5, 2.9, active=False)  # silent, but retired: not to visit
    for sid in ("wet-a", "wet-b", "lonely-wet"):
        _status(db, sid)
        _reading(db, sid, 3.0, ago_h=2)
        _reading(db, sid, 3.0, ago_h=1)
    _status(db, "clogged")
    _reading(db, "clogged", 0.0)
    _status(db, "late", ago_s=2 * 300)  # > 1.5 and < 3 intervals
    _status(db, "offline", ago_s=4 * 300)  # > 3 intervals
    _status(db, "lwt-off", ago_s=5, online=False)  # the broker's Last Will
    _status(db, "low-batt", battery=3.3)
    _status(db, "double")
    _reading(db, "double", 0.4, flags=1)
    _status(db, "dead")
    _dead_letter(db, "dead")
    _status(db, "dead-old")
    _dead_letter(db, "dead-old", ago_h=30)
    _reading(db, "dead-old", 0.2, ago_h=30, flags=1)  # an old double tip is not counted either
    _status(db, "lonely-dry")
    _reading(db, "lonely-dry", 0.0)


@pytest.mark.usefixtures("fleet")
def test_each_reason_for_the_station_built_for_it_and_none_for_healthy_ones(client: TestClient) -> None:
    r = client.get("/api/v1/maintenance", headers=TECH)
    assert r.status_code == 200, r.text
    listed = {item["station"]: item["reasons"] for item in r.json()}
    assert listed == {
        "clogged": ["clogged_funnel"],
        "late": ["late"],
        "offline": ["offline"],
        "lwt-off": ["offline"],
        "never": ["offline"],
        "low-batt": ["low_battery"],
        "double": ["double_tips"],
        "dead": ["dead_letters"],
    }
    clogged = next(i for i in r.json() if i["station"] == "clogged")
    assert "2 station(s) à moins de 5 km" in clogged["details"]["clogged_funnel"]
    assert "3.30 V" in next(i for i in r.json() if i["station"] == "low-batt")["details"]["low_battery"]
    assert client.get("/api/v1/maintenance", headers=DUTY).status_code == 200
    # Unknown or hostile query parameters change nothing.
    assert client.get("/api/v1/maintenance?radius=%27;DROP", headers=ADMIN).json() == r.json()


@pytest.mark.usefixtures("fleet")
def test_health_per_station(client: TestClient, db: Db) -> None:
    _reading(db, "double", 0.2, ago_h=2, flags=1 | 4)
    _dead_letter(db, "double")
    _dead_letter(db, "double", ago_h=25)
    h = client.get("/api/v1/stations/double/health", headers=bearer(role_token("viewer")))
    assert h.status_code == 200, h.text
    body = h.json()
    assert (body["status"], body["rssi"], body["fw"], body["battery_v"]) == ("online", -70, "1.4.0", 3.9)
    assert body["flags_24h"] == {
        "double_tip": 2,
        "counter_reset": 0,
        "clock_skew": 1,
        "out_of_order": 0,
        "counter_baseline": 0,
    }
    assert body["dead_letters_24h"] == 1 and len(body["dead_letters"]) == 1
    assert body["dead_letters"][0]["reason"] == "invalid_json"
    words = {
        sid: client.get(f"/api/v1/stations/{sid}/health", headers=ADMIN).json()["status"]
        for sid in ("late", "offline", "lwt-off", "never", "low-batt", "wet-a")
    }
    assert words == {
        "late": "late",
        "offline": "offline",
        "lwt-off": "offline",
        "never": "offline",
        "low-batt": "low_battery",
        "wet-a": "online",
    }


def test_thresholds_of_late_and_offline() -> None:
    seen = NOW - timedelta(seconds=450)
    assert device_health.connection_state(NOW, seen, 300, True) is Health.ONLINE  # exactly 1.5 intervals
    assert device_health.connection_state(NOW, seen - timedelta(seconds=1), 300, True) is Health.LATE
    assert device_health.connection_state(NOW, NOW - timedelta(seconds=900), 300, True) is Health.LATE
    assert device_health.connection_state(NOW, NOW - timedelta(seconds=901), 300, True) is Health.OFFLINE
    assert device_health.connection_state(NOW, NOW, 300, False) is Health.OFFLINE
    assert device_health.status(NOW, NOW, 300, None, 3.39, 3.4) is Health.LOW_BATTERY
    assert device_health.status(NOW, NOW, 300, None, 3.4, 3.4) is Health.ONLINE
    assert device_health.status(NOW, NOW, 300, None, None, 3.4) is Health.ONLINE
