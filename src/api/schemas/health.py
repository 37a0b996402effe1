"""The health answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Health(BaseModel):
    """Whether the database and the broker answer."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "database": True, "broker": True}]}
    )

    status: Literal["ok", "degraded"]
    database: bool
    broker: bool
