"""Stations: the table every service reads. Its SQL lives here, beside the table's owner."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import class_row
from pydantic import BaseModel, ConfigDict, Field

from vigie import ids
from vigie.broker import is_reserved_account
from vigie.errors import ConflictError, NotFoundError, ValidationFailed

STATION_ID = ids.STATION_ID
NAME = ids.PRINTABLE


class StationIn(BaseModel):
    """A station as created by a technician (CLI or API)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STATION_ID)
    name: str = Field(min_length=1, max_length=200, pattern=NAME)
    commune_insee: str = Field(pattern=r"^60[0-9]{3}$")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    altitude_m: float | None = Field(default=None, ge=-500, le=9000, allow_inf_nan=False)
    tip_mm: float = Field(default=0.2, gt=0, le=10, allow_inf_nan=False)
    expected_interval_s: int = Field(default=300, ge=10, le=86400)
    active: bool = True
    dev_eui: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")


class Station(StationIn):
    """A stored station."""

    commune_name: str
    created_at: datetime


_SELECT = """
SELECT s.id, s.name, s.commune_insee, s.lat, s.lon, s.altitude_m, s.tip_mm,
       s.expected_interval_s, s.active, s.dev_eui, c.name AS commune_name, s.created_at
FROM stations s JOIN communes c ON c.insee = s.commune_insee
"""


def add(conn: psycopg.Connection[tuple[object, ...]], station: StationIn) -> Station:
    """Insert a station; ConflictError if the id or devEUI exists, ValidationFailed on commune."""
    # The id is the device's broker account: it may not be a service's or a gateway's.
    if is_reserved_account(station.id):
        raise ValidationFailed(
            f"station id {station.id!r} is reserved: vigie-* and the service and gateway accounts"
        )
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO stations (id, name, commune_insee, lat, lon, altitude_m, tip_mm,"
                " expected_interval_s, active, dev_eui) VALUES (%(id)s, %(name)s, %(commune_insee)s,"
                " %(lat)s, %(lon)s, %(altitude_m)s, %(tip_mm)s, %(expected_interval_s)s,"
                " %(active)s, %(dev_eui)s)",
                station.model_dump(),
            )
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"station {station.id!r} or its devEUI already exists") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise ValidationFailed(
            f"commune {station.commune_insee} is not one of the Deux Vallées"
        ) from exc
    return get(conn, station.id)


def get(conn: psycopg.Connection[tuple[object, ...]], station_id: str) -> Station:
    """One station, or NotFoundError."""
    with conn.cursor(row_factory=class_row(Station)) as cur:
        row = cur.execute(_SELECT + " WHERE s.id = %s", (station_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no station {station_id!r}")
    return row


def list_all(conn: psycopg.Connection[tuple[object, ...]]) -> list[Station]:
    """Every station, by id."""
    with conn.cursor(row_factory=class_row(Station)) as cur:
        return cur.execute(_SELECT + " ORDER BY s.id").fetchall()


def set_active(conn: psycopg.Connection[tuple[object, ...]], station_id: str, active: bool) -> None:
    """Activate or retire a station; readings are kept either way."""
    cur = conn.execute("UPDATE stations SET active = %s WHERE id = %s", (active, station_id))
    if cur.rowcount == 0:
        raise NotFoundError(f"no station {station_id!r}")
