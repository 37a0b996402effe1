"""The public vigilance page's JSON: each commune's level and rain, nothing about devices or people."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class CommuneVigilance(BaseModel):
    """One commune as the public page shows it."""

    insee: str
    name: str
    level: str  # none, yellow, orange, red
    level_word: str
    colour: str
    rain_24h_max_mm: float | None  # the largest 24 h total among the commune's gauges
    gauges_reporting: int


class VigilanceState(BaseModel):
    """The 16 communes, as of `at`."""

    at: datetime
    communes: list[CommuneVigilance]
