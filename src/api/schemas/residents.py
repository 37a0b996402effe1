"""Response models of the consignes, exercise and sign-up routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class InstructionOut(BaseModel):
    """One consigne: the commune's own (custom) or the default."""

    level: str
    text: str
    sms: str
    custom: bool
    updated_at: datetime | None = None
    updated_by: str | None = None


class CommuneInstructions(BaseModel):
    """The four consignes (yellow, orange, red, end) of one commune."""

    insee: str
    instructions: list[InstructionOut]


class ExerciseCreated(BaseModel):
    """An exercise stored and queued for the alerts service."""

    id: int
    steps: int
    starts_at: datetime


class ExerciseStepOut(BaseModel):
    """One step of the report: when it was due, played, and each hop's duration."""

    seq: int
    kind: str
    level: str
    due_at: datetime
    played_at: datetime | None
    first_message_at: datetime | None
    first_sms_at: datetime | None
    deliveries: int
    accepted: int
    to_first_message_s: float | None
    to_first_sms_s: float | None


class ExerciseReport(BaseModel):
    """The exercise report: from the crossing to the first SMS and to the acknowledgement."""

    id: int
    name: str
    source: str
    source_incident_id: int | None
    speed: float
    title: str
    communes: list[str]
    created_by: str
    created_at: datetime
    starts_at: datetime | None
    finished_at: datetime | None
    incident_id: int | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    crossing_at: datetime | None
    crossing_to_first_sms_s: float | None
    crossing_to_acknowledgement_s: float | None
    steps: list[ExerciseStepOut]


class SignupAccepted(BaseModel):
    """A sign-up request waiting for its confirmation (code by SMS or link by e-mail)."""

    request: str
    channel: str
    expires_at: datetime
    detail: str


class SignupDone(BaseModel):
    """What a confirmation, an unsubscription or an erasure did."""

    detail: str
    count: int = 1


class InboundAnswer(BaseModel):
    """The webhook's answer to the gateway."""

    action: str
    count: int


class CommuneReach(BaseModel):
    """Residents signed up in one commune, against its population."""

    insee: str
    name: str
    population: int
    subscribed: int
    sms: int
    email: int
    pending: int
    per_1000: float | None
