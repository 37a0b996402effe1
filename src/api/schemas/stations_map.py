"""The technicians' map data (GET /carte/etat.json): each active gauge, where it is, its status
and its rain, with the words and classes the page shows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class MapStation(BaseModel):
    """One gauge on the map and in the table beside it."""

    id: str
    name: str
    commune: str
    lat: float
    lon: float
    status: str
    status_word: str
    rain_1h_mm: float | None
    rain_24h_mm: float | None
    rain_1h_class: int
    rain_24h_class: int
    rain_1h_text: str
    rain_24h_text: str
    last_seen: datetime | None
    last_seen_text: str
    battery_v: float | None
    href: str


class MapState(BaseModel):
    """Every active gauge, at one instant."""

    at: datetime
    stations: list[MapStation]
