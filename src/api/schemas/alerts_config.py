"""Rules, catchments and subscribers as the API shows them (subscribers' channels masked)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vigie.levels import Level


class RuleOut(BaseModel):
    """A stored rule and the incident group its levels share (null if it no longer validates)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "Cumul 1 h orange",
                    "kind": "accumulation",
                    "scope_kind": "station",
                    "scope_id": "thourotte-mairie",
                    "level": "orange",
                    "params": {"window_min": 60, "raise": 30, "clear": 20, "for_min": 0},
                    "audience": "public",
                    "enabled": True,
                    "created_at": "2026-11-01T09:00:00Z",
                    "updated_at": "2026-11-01T09:00:00Z",
                    "group_key": "accumulation:60",
                }
            ]
        }
    )

    id: int
    name: str
    kind: str
    scope_kind: str
    scope_id: str
    level: Level
    params: dict[str, Any]
    audience: Literal["public", "technicians"]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    group_key: str | None


class CatchmentGauge(BaseModel):
    """A gauge of the catchment and its weight."""

    station_id: str
    weight: float


class CatchmentOut(BaseModel):
    """A stored catchment with its gauges."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "matz-aval",
                    "name": "Matz aval",
                    "area_km2": 12.5,
                    "cn2": 74.0,
                    "communes": ["60636"],
                    "upstream": [],
                    "stations": [{"station_id": "thourotte-mairie", "weight": 1.0}],
                    "polygon": None,
                    "montana": None,
                    "created_at": "2026-11-01T09:00:00Z",
                    "updated_at": "2026-11-01T09:00:00Z",
                }
            ]
        }
    )

    id: str
    name: str
    area_km2: float
    cn2: float
    communes: list[str]
    upstream: list[str]
    stations: list[CatchmentGauge]
    polygon: dict[str, Any] | None
    montana: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class MaskedChannel(BaseModel):
    """A channel as shown: its kind and scheme://host, never the URL (a secret)."""

    kind: str
    url: str


class SubscriberOut(BaseModel):
    """A stored subscriber, channels masked."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "name": "Mairie de Thourotte",
                    "communes": ["60636"],
                    "catchments": [],
                    "min_level": "orange",
                    "channels": [{"kind": "sms", "url": "smseagle://sms.example.org/***"}],
                    "quiet_start": None,
                    "quiet_end": None,
                    "timezone": "Europe/Paris",
                    "audience": "public",
                    "active": True,
                    "exercises": False,
                    "created_at": "2026-11-01T09:00:00Z",
                    "updated_at": "2026-11-01T09:00:00Z",
                }
            ]
        }
    )

    id: int
    name: str
    communes: list[str]
    catchments: list[str]
    min_level: Level
    channels: list[MaskedChannel]
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    audience: Literal["public", "technicians"]
    active: bool
    exercises: bool = False
    created_at: datetime
    updated_at: datetime


class QueuedTest(BaseModel):
    """One queued test message: its delivery and the (masked) channel it goes to."""

    id: int
    channel_index: int
    kind: str
    url: str


class TestSend(BaseModel):
    """The test messages queued for the notifier, one per channel."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscriber_id": 2,
                    "requested_by": "admin",
                    "deliveries": [
                        {"id": 11, "channel_index": 0, "kind": "sms", "url": "smseagle://sms.example.org/***"}
                    ],
                }
            ]
        }
    )

    # Not a test class, whatever pytest's collector guesses from the name.
    __test__ = False

    subscriber_id: int
    requested_by: str
    deliveries: list[QueuedTest]
