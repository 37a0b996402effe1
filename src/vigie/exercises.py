"""Exercise mode, the contract every service shares: how an exercise incident is recognised
and named. An exercise incident has `incidents.exercise_id` set and a title starting with
TITLE_PREFIX, so that whatever shows a title (public page, CAP headline, Atom feed, SMS)
says EXERCICE even if it knows nothing of exercises.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from vigie.levels import RANK, Level

EXERCISE_WORD = "EXERCICE"
TITLE_PREFIX = f"{EXERCISE_WORD} — "
CAP_STATUS = "Exercise"  # CAP 1.2 <status> of every exercise message


def title(real_title: str) -> str:
    """The title of the exercise incident replaying real_title."""
    return real_title if real_title.startswith(TITLE_PREFIX) else TITLE_PREFIX + real_title


def strip_title(title_: str) -> str:
    """The title without the exercise prefix (messages add EXERCICE themselves, first)."""
    return title_.removeprefix(TITLE_PREFIX)


# ---- what an admin asks for ---------------------------------------------------------------------

INSEE = Annotated[str, StringConstraints(pattern=r"^60[0-9]{3}$")]
MAX_STEPS = 20
MAX_OFFSET_S = 7 * 24 * 3600


def _printable(text: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text) or not text.strip():
        raise ValueError("ne doit pas être vide ni contenir de caractères de contrôle")
    return text.strip()


class SyntheticStep(BaseModel):
    """One moment of a synthetic storm: a level (or null: the end of the alert) after_s seconds
    after the start, with the measure the messages quote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_s: int = Field(ge=0, le=MAX_OFFSET_S)
    level: Level | None
    value: float | None = Field(default=None, ge=0, le=10_000)

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("valeur non finie")
        return v


class SyntheticStorm(BaseModel):
    """A storm made up for the exercise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(default="Cumul 1 h — orage simulé", min_length=1, max_length=200)
    communes: list[INSEE] = Field(min_length=1, max_length=16)
    window_min: int = Field(default=60, ge=1, le=1440)
    steps: list[SyntheticStep] = Field(min_length=2, max_length=MAX_STEPS)

    _title = field_validator("title")(classmethod(lambda cls, v: _printable(v)))

    @model_validator(mode="after")
    def _a_storm(self) -> SyntheticStorm:
        offsets = [s.after_s for s in self.steps]
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise ValueError("steps : after_s doit croître strictement")
        if self.steps[0].level is None:
            raise ValueError("steps : la première étape doit être un niveau (yellow, orange, red)")
        if self.steps[-1].level is not None:
            raise ValueError("steps : la dernière étape doit être la fin d'alerte (level null)")
        if any(s.level is None for s in self.steps[:-1]):
            raise ValueError("steps : seule la dernière étape peut être la fin d'alerte")
        levels = [s.level for s in self.steps[:-1]]
        if any(a == b for a, b in itertools.pairwise(levels)):
            raise ValueError("steps : deux étapes de suite au même niveau")
        if len(set(self.communes)) != len(self.communes):
            raise ValueError("communes : code INSEE en double")
        return self


class ExerciseIn(BaseModel):
    """An exercise as an admin starts it: replay a past incident, or a synthetic storm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    incident_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    synthetic: SyntheticStorm | None = None
    # 10 plays a 50-minute storm in 5 minutes; 1 is real time.
    speed: float = Field(default=1.0, ge=1, le=3600)
    start_in_s: int = Field(default=0, ge=0, le=86400)

    _name = field_validator("name")(classmethod(lambda cls, v: _printable(v)))

    @model_validator(mode="after")
    def _one_source(self) -> ExerciseIn:
        if (self.incident_id is None) == (self.synthetic is None):
            raise ValueError(
                "donnez incident_id (rejouer un incident) ou synthetic (orage simulé), pas les deux"
            )
        return self


@dataclass(frozen=True)
class Step:
    """One planned change of the exercise incident."""

    offset_s: float
    kind: str
    level: str
    previous_level: str | None
    value: float | None
    unit: str
    window_min: int | None
    summary: str


@dataclass(frozen=True)
class Plan:
    """What an exercise will play: the incident it imitates and its steps."""

    source: str
    source_incident_id: int | None
    kind: str
    title: str
    scope_kind: str
    scope_id: str
    communes: list[str]
    catchment_id: str | None
    steps: list[Step]


def plan_synthetic(storm: SyntheticStorm, speed: float) -> Plan:
    """The steps of a synthetic storm: opened, escalated/de-escalated, resolved."""
    steps: list[Step] = []
    previous: str | None = None
    for s in storm.steps:
        if s.level is None:
            assert previous is not None
            kind, level = "resolved", previous
        elif previous is None:
            kind, level = "opened", s.level
        else:
            kind, level = ("escalated" if RANK[s.level] > RANK[previous] else "deescalated"), s.level
        steps.append(
            Step(
                s.after_s / speed,
                kind,
                level,
                previous,
                s.value,
                "mm",
                storm.window_min,
                f"{TITLE_PREFIX}{storm.title}",
            )
        )
        previous = s.level
    return Plan(
        "synthetic",
        None,
        "accumulation",
        storm.title,
        "commune",
        storm.communes[0],
        list(storm.communes),
        None,
        steps,
    )


def plan_replay(incident: dict[str, Any], changes: list[dict[str, Any]], speed: float) -> Plan:
    """The steps that replay a past incident's public timeline, `speed` times faster; an
    incident that never ended gets its end one (accelerated) minute after its last change."""
    kept = [c for c in changes if c["kind"] in ("opened", "escalated", "deescalated", "resolved")]
    if not kept or kept[0]["kind"] != "opened":
        raise ValueError("cet incident n'a pas de chronologie rejouable")
    t0: datetime = kept[0]["at"]
    steps = [
        Step(
            (c["at"] - t0).total_seconds() / speed,
            str(c["kind"]),
            str(c["level"]),
            c["previous_level"],
            c["value"],
            str(c["unit"] or ""),
            c["window_min"],
            TITLE_PREFIX + str(c["summary"] or incident["title"]),
        )
        for c in kept
    ]
    if steps[-1].kind != "resolved":
        last = steps[-1]
        steps.append(
            Step(
                last.offset_s + 60 / speed,
                "resolved",
                last.level,
                last.level,
                None,
                last.unit,
                last.window_min,
                f"{TITLE_PREFIX}fin de l'exercice",
            )
        )
    return Plan(
        "incident",
        int(incident["id"]),
        str(incident["kind"]),
        str(incident["title"]),
        str(incident["scope_kind"]),
        str(incident["scope_id"]),
        list(incident["communes"]),
        incident["catchment_id"],
        steps,
    )


# ---- SQL shared by the API (async) and the CLI (sync): one text, two drivers ------------------
SOURCE_INCIDENT_SQL = (
    "SELECT id, kind, title, scope_kind, scope_id, communes, catchment_id FROM incidents"
    " WHERE id = %s AND audience = 'public' AND exercise_id IS NULL"
)
SOURCE_CHANGES_SQL = (
    "SELECT kind, at, level, previous_level, value, window_min, detail ->> 'unit' AS unit,"
    " detail ->> 'summary' AS summary FROM incident_changes WHERE incident_id = %s ORDER BY id"
)
INSERT_EXERCISE_SQL = (
    "INSERT INTO exercises (name, source, source_incident_id, speed, kind, title, scope_kind,"
    " scope_id, communes, catchment_id, created_by) VALUES (%(name)s, %(source)s, %(source_id)s,"
    " %(speed)s, %(kind)s, %(title)s, %(scope_kind)s, %(scope_id)s, %(communes)s, %(catchment)s,"
    " %(by)s) RETURNING id"
)
INSERT_STEPS_SQL = (
    "INSERT INTO exercise_steps (exercise_id, seq, due_at, kind, level, previous_level, value,"
    " unit, window_min, summary) SELECT %s, u.ord, %s::timestamptz + make_interval(secs => u.off),"
    " u.kind, u.level, u.prev, u.value, u.unit, u.win, u.summary FROM unnest(%s::float8[],"
    " %s::text[], %s::text[], %s::text[], %s::float8[], %s::text[], %s::int[], %s::text[])"
    " WITH ORDINALITY AS u(off, kind, level, prev, value, unit, win, summary, ord)"
)


def steps_params(exercise_id: int, start: datetime, steps: list[Step]) -> tuple[Any, ...]:
    """The parameters of INSERT_STEPS_SQL."""
    return (
        exercise_id,
        start,
        [s.offset_s for s in steps],
        [s.kind for s in steps],
        [s.level for s in steps],
        [s.previous_level for s in steps],
        [s.value for s in steps],
        [s.unit for s in steps],
        [s.window_min for s in steps],
        [s.summary for s in steps],
    )


def exercise_params(body: ExerciseIn, plan: Plan, by: str) -> dict[str, Any]:
    """The parameters of INSERT_EXERCISE_SQL."""
    return {
        "name": body.name,
        "source": plan.source,
        "source_id": plan.source_incident_id,
        "speed": body.speed,
        "kind": plan.kind,
        "title": plan.title,
        "scope_kind": plan.scope_kind,
        "scope_id": plan.scope_id,
        "communes": plan.communes,
        "catchment": plan.catchment_id,
        "by": by,
    }


def start_time(now: datetime, body: ExerciseIn) -> datetime:
    """When the first step is due."""
    return now + timedelta(seconds=body.start_in_s)


# The report: per step, when it was due and played, and how long each hop took to the first
# message accepted by a provider (any channel) and to the first SMS; per exercise, the
# acknowledgement. Times are what the database recorded (deliveries.sent_at, acknowledged_at).
REPORT_SQL = """
SELECT s.seq, s.kind, s.level, s.due_at, c.at AS played_at,
       (SELECT min(d.sent_at) FROM deliveries d WHERE d.incident_change_id = c.id
           AND d.state = 'accepted') AS first_message_at,
       (SELECT min(d.sent_at) FROM deliveries d WHERE d.incident_change_id = c.id
           AND d.state = 'accepted' AND d.channel_kind = 'sms') AS first_sms_at,
       (SELECT count(*) FROM deliveries d WHERE d.incident_change_id = c.id) AS deliveries,
       (SELECT count(*) FROM deliveries d WHERE d.incident_change_id = c.id
           AND d.state = 'accepted') AS accepted
  FROM exercise_steps s LEFT JOIN incident_changes c ON c.id = s.incident_change_id
 WHERE s.exercise_id = %s ORDER BY s.seq
"""
EXERCISE_SQL = """
SELECT e.id, e.name, e.source, e.source_incident_id, e.speed, e.title, e.communes, e.created_by,
       e.created_at, e.finished_at, e.incident_id, i.acknowledged_at, i.acknowledged_by,
       (SELECT min(due_at) FROM exercise_steps WHERE exercise_id = e.id) AS starts_at
  FROM exercises e LEFT JOIN incidents i ON i.id = e.incident_id
 WHERE e.id = %s
"""


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds(), 3)


def report(exercise: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The exercise report: each hop's duration, from the crossing (the change being written)."""
    rows = [
        {
            **s,
            "to_first_message_s": _seconds(s["played_at"], s["first_message_at"]),
            "to_first_sms_s": _seconds(s["played_at"], s["first_sms_at"]),
        }
        for s in steps
    ]
    crossing = next((s["played_at"] for s in steps if s["kind"] == "opened"), None)
    first_sms = next((s["first_sms_at"] for s in steps if s["kind"] == "opened"), None)
    return {
        **exercise,
        "crossing_at": crossing,
        "crossing_to_first_sms_s": _seconds(crossing, first_sms),
        "crossing_to_acknowledgement_s": _seconds(crossing, exercise["acknowledged_at"]),
        "steps": rows,
    }
