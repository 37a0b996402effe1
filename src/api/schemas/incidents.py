"""Incidents, their timeline and delivery log, in the public view and the full (admin) view.

The public view is a strict subset: a full incident is the public one plus who acknowledged,
their comment and the engine's keys. Routes answer `Full | Public` according to the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vigie.levels import Level

_INCIDENT_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "kind": "accumulation",
    "scope_kind": "station",
    "scope_id": "thourotte-mairie",
    "level": "orange",
    "state": "open",
    "audience": "public",
    "communes": ["60636"],
    "catchment_id": None,
    "title": "Cumul 1 h — Thourotte",
    "opened_at": "2026-11-20T10:00:00Z",
    "updated_at": "2026-11-20T10:00:00Z",
    "resolved_at": None,
    "level_since": "2026-11-20T10:00:00Z",
    "max_level": "orange",
    "acknowledged": False,
    "acknowledged_at": None,
    "last_value": 31.2,
    "window_min": 60,
}
_CHANGE_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "at": "2026-11-20T10:00:00Z",
    "kind": "opened",
    "level": "orange",
    "previous_level": None,
    "value": 31.2,
    "window_min": 60,
    "detail": {"summary": "Vigilance orange", "measure": "31,2 mm en 1 h"},
}


class IncidentPublic(BaseModel):
    """An incident as anyone may see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_INCIDENT_EXAMPLE]})

    id: int
    kind: str
    scope_kind: str
    scope_id: str
    level: Level
    state: Literal["open", "resolved"]
    audience: Literal["public", "technicians"]
    communes: list[str]
    catchment_id: str | None
    title: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    level_since: datetime
    max_level: str
    acknowledged: bool
    acknowledged_at: datetime | None
    last_value: float | None
    window_min: int | None
    # Set on an exercise incident (PCS exercise, vigie.exercises): its title starts with EXERCICE.
    exercise_id: int | None = None


class IncidentFull(IncidentPublic):
    """An incident with what only its operators see."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_INCIDENT_EXAMPLE,
                    "rule_id": 3,
                    "group_key": "accumulation:60",
                    "acknowledged_by": None,
                    "ack_comment": None,
                    "last_reminder_at": None,
                }
            ]
        }
    )

    rule_id: int | None
    group_key: str
    acknowledged_by: str | None
    ack_comment: str | None
    last_reminder_at: datetime | None


class ChangePublic(BaseModel):
    """One step of an incident's timeline; detail keeps only the measure and thresholds."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CHANGE_EXAMPLE]})

    id: int
    at: datetime
    kind: str
    level: str
    previous_level: str | None
    value: float | None
    window_min: int | None
    detail: dict[str, Any]


class ChangeFull(ChangePublic):
    """One step of the timeline with the engine's whole detail and whether it was notified."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_CHANGE_EXAMPLE, "notify": True}]})

    notify: bool


class IncidentDetailPublic(IncidentPublic):
    """An incident with its timeline, oldest change first."""

    timeline: list[ChangePublic]


class IncidentDetailFull(IncidentFull):
    """An incident with its whole timeline, oldest change first."""

    timeline: list[ChangeFull]


class AcknowledgedPublic(IncidentPublic):
    """The incident after the acknowledgement, and the id of the change it wrote."""

    change_id: int


class AcknowledgedFull(IncidentFull):
    """The incident after the acknowledgement, and the id of the change it wrote."""

    change_id: int


class IncidentPage(BaseModel):
    """One page of incidents, newest first, and how many match in all."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"total": 1, "limit": 50, "offset": 0, "items": [_INCIDENT_EXAMPLE]}]}
    )

    total: int
    limit: int
    offset: int
    items: list[IncidentFull | IncidentPublic]


class DeliveryAttempt(BaseModel):
    """One row of the delivery log: a delivery and one of its attempts (none yet: nulls)."""

    incident_id: int
    delivery_id: int
    incident_change_id: int | None
    subscriber_id: int
    subscriber_name: str
    channel_index: int
    channel_kind: str
    purpose: str
    level: str | None
    state: str
    grouped_into: int | None
    at: datetime | None
    outcome: str | None
    detail: str | None


class DeliveryLog(BaseModel):
    """Every delivery of an incident and every attempt with its outcome: the proof it went out."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "incident_id": 42,
                    "deliveries_by_state": {"accepted": 1},
                    "total": 1,
                    "limit": 1000,
                    "offset": 0,
                    "items": [
                        {
                            "incident_id": 42,
                            "delivery_id": 9,
                            "incident_change_id": 7,
                            "subscriber_id": 2,
                            "subscriber_name": "Mairie de Thourotte",
                            "channel_index": 0,
                            "channel_kind": "sms",
                            "purpose": "alert",
                            "level": "orange",
                            "state": "accepted",
                            "grouped_into": None,
                            "at": "2026-11-20T10:00:40Z",
                            "outcome": "accepted",
                            "detail": "HTTP 200",
                        }
                    ],
                }
            ]
        }
    )

    incident_id: int
    deliveries_by_state: dict[str, int]
    total: int
    limit: int
    offset: int
    items: list[DeliveryAttempt]
