"""The health answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoopHealth(BaseModel):
    """One service's work loop, by name only: the public page shows no host or process id."""

    service: str
    loop: str
    age_s: float = Field(description="Secondes depuis le dernier battement de cette boucle")
    max_interval_s: float
    stalled: bool


class Health(BaseModel):
    """Whether the database and the broker answer, and whether any service's work loop stalled."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "database": True,
                    "broker": True,
                    "stalled": 0,
                    "loops": [
                        {"service": "ingest", "loop": "writer", "age_s": 0.4,
                         "max_interval_s": 60.0, "stalled": False}
                    ],
                }
            ]
        }
    )

    status: Literal["ok", "degraded"]
    database: bool
    broker: bool
    stalled: int = 0
    loops: list[LoopHealth] = []
