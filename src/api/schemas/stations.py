"""Stations, their device status, rain series and raw readings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigie.stations import NAME

_STATION_EXAMPLE: dict[str, Any] = {
    "id": "thourotte-mairie",
    "name": "Pluviomètre de la mairie",
    "commune_insee": "60636",
    "commune_name": "Thourotte",
    "lat": 49.474,
    "lon": 2.877,
    "altitude_m": 38.0,
    "tip_mm": 0.2,
    "expected_interval_s": 300,
    "active": True,
    "dev_eui": None,
    "last_seen": "2026-11-20T10:05:02Z",
    "last_ts": "2026-11-20T10:05:00Z",
    "battery_v": 3.9,
    "rssi": -71,
    "fw": "1.4.0",
    "clock_offset_s": 0.4,
    "online": True,
}


class StationStatus(BaseModel):
    """A station with its device status (null until the device has spoken)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_STATION_EXAMPLE]})

    id: str
    name: str
    commune_insee: str
    commune_name: str
    lat: float
    lon: float
    altitude_m: float | None
    tip_mm: float
    expected_interval_s: int
    active: bool
    dev_eui: str | None
    last_seen: datetime | None
    last_ts: datetime | None
    battery_v: float | None
    rssi: int | None
    fw: str | None
    clock_offset_s: float | None
    online: bool | None


class RainBucket(BaseModel):
    """Total for [start, start + step); null when no reading covers the bucket, never 0."""

    start: datetime
    mm: float | None


class RainSeries(BaseModel):
    """Rain totals of one station per bucket."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "station": "thourotte-mairie",
                    "step": "1h",
                    "from": "2026-11-20T08:00:00Z",
                    "to": "2026-11-20T10:00:00Z",
                    "unit": "mm",
                    "total_mm": 3.4,
                    "buckets": [
                        {"start": "2026-11-20T08:00:00Z", "mm": 3.4},
                        {"start": "2026-11-20T09:00:00Z", "mm": None},
                    ],
                }
            ]
        },
    )

    station: str
    step: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    unit: str = "mm"
    total_mm: float | None
    buckets: list[RainBucket]


class Reading(BaseModel):
    """One raw reading with its quality flags by name."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ts": "2026-11-20T10:05:00Z",
                    "seq": 1234,
                    "interval_s": 300,
                    "tips": 3,
                    "counter": 8812,
                    "mm": 0.6,
                    "battery_v": 3.9,
                    "rssi": -71,
                    "flags": [],
                    "received_at": "2026-11-20T10:05:02Z",
                }
            ]
        }
    )

    ts: datetime
    seq: int | None
    interval_s: int
    tips: int | None
    counter: int | None
    mm: float | None
    battery_v: float | None
    rssi: int | None
    flags: list[str]
    received_at: datetime


class StationUpdate(BaseModel):
    """The fields a technician may change (all optional; the id, the device's account, is fixed)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"expected_interval_s": 600}]})

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME)
    commune_insee: str | None = Field(default=None, pattern=r"^60[0-9]{3}$")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    altitude_m: float | None = Field(default=None, ge=-500, le=9000, allow_inf_nan=False)
    tip_mm: float | None = Field(default=None, gt=0, le=10, allow_inf_nan=False)
    expected_interval_s: int | None = Field(default=None, ge=10, le=86400)
    dev_eui: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")


class DeviceCredentialsOut(BaseModel):
    """The device's MQTT account. The password is shown only in this answer: it is not stored
    in plain text anywhere, so a lost one is rotated."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station": "thourotte-mairie",
                    "username": "thourotte-mairie",
                    "password": "k3J9...",
                    "broker_reloaded": True,
                }
            ]
        }
    )

    station: str
    username: str
    password: str
    broker_reloaded: bool


class DeadLetterBrief(BaseModel):
    """A refused input of the station (its payload is read with the dead-letter tools)."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload_size: int


class StationHealth(BaseModel):
    """A gauge's health: status is online, late, offline or low_battery."""

    station: str
    status: str
    last_seen: datetime | None
    battery_v: float | None
    rssi: int | None
    fw: str | None
    expected_interval_s: int
    flags_24h: dict[str, int]
    dead_letters_24h: int
    dead_letters: list[DeadLetterBrief]


class MaintenanceItem(BaseModel):
    """A device that needs a visit, and why (reasons: offline, late, low_battery, double_tips,
    clogged_funnel, dead_letters)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station": "thourotte-mairie",
                    "name": "Pluviomètre de la mairie",
                    "commune_name": "Thourotte",
                    "reasons": ["low_battery", "clogged_funnel"],
                    "details": {
                        "low_battery": "batterie à 3.31 V (seuil 3.4 V)",
                        "clogged_funnel": "sec depuis 24 h alors que 2 station(s) à moins de 5 km"
                        " ont reçu au moins 5 mm : entonnoir bouché ?",
                    },
                    "last_seen": "2026-11-20T10:05:02Z",
                    "battery_v": 3.31,
                }
            ]
        }
    )

    station: str
    name: str
    commune_name: str
    reasons: list[str]
    details: dict[str, str]
    last_seen: datetime | None
    battery_v: float | None


class SeriesPoint(BaseModel):
    """One bucket: depth, running total and mean intensity; depth and intensity null when no
    reading covers the bucket (never 0)."""

    start: datetime
    depth_mm: float | None
    cumulative_mm: float | None
    intensity_mm_h: float | None


class RainSeriesDetail(BaseModel):
    """A bucketed rain series of one station."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "station": "thourotte-mairie",
                    "step": "15min",
                    "source": "rain_5min",
                    "from": "2026-11-20T10:00:00Z",
                    "to": "2026-11-20T10:30:00Z",
                    "total_mm": 1.2,
                    "buckets": [
                        {
                            "start": "2026-11-20T10:00:00Z",
                            "depth_mm": 1.2,
                            "cumulative_mm": 1.2,
                            "intensity_mm_h": 4.8,
                        },
                        {
                            "start": "2026-11-20T10:15:00Z",
                            "depth_mm": None,
                            "cumulative_mm": 1.2,
                            "intensity_mm_h": None,
                        },
                    ],
                }
            ]
        },
    )

    station: str
    step: str
    source: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    total_mm: float | None
    buckets: list[SeriesPoint]


class StationRecent(BaseModel):
    """One active station's rain over the last hour and the last 24 h; null when no reading
    covers the span (never 0)."""

    station: str
    mm_1h: float | None
    mm_24h: float | None
    readings_24h: int


class RecentRain(BaseModel):
    """Every active station's recent rain, for the map."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "to": "2026-11-20T10:00:00Z",
                    "source": "rain_5min",
                    "stations": [
                        {"station": "thourotte-mairie", "mm_1h": 0.4, "mm_24h": 12.6, "readings_24h": 288},
                        {"station": "pimprez-ecole", "mm_1h": None, "mm_24h": None, "readings_24h": 0},
                    ],
                }
            ]
        },
    )

    end: datetime = Field(alias="to")
    source: str = "rain_5min"
    stations: list[StationRecent]
