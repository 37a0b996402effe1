"""Plain factory functions for test data."""

from __future__ import annotations

import uuid

import psycopg

from vigie import stations
from vigie.stations import Station, StationIn

# A few real places in the Deux Vallées (INSEE, lat, lon).
PLACES = {
    "60636": (49.474, 2.877),  # Thourotte
    "60537": (49.511, 2.925),  # Ribécourt-Dreslincourt
    "60378": (49.502, 2.729),  # Marest-sur-Matz
}


def make_station(
    conn: psycopg.Connection[tuple[object, ...]],
    station_id: str | None = None,
    *,
    commune: str = "60636",
    tip_mm: float = 0.2,
    interval_s: int = 300,
    dev_eui: str | None = None,
) -> Station:
    """Insert a station with sensible defaults and return it."""
    lat, lon = PLACES.get(commune, (49.5, 2.9))
    sid = station_id or f"st-{uuid.uuid4().hex[:8]}"
    return stations.add(
        conn,
        StationIn(
            id=sid,
            name=f"Pluviomètre {sid}",
            commune_insee=commune,
            lat=lat,
            lon=lon,
            tip_mm=tip_mm,
            expected_interval_s=interval_s,
            dev_eui=dev_eui,
        ),
    )


def make_user(
    conn: psycopg.Connection[tuple[object, ...]],
    login: str,
    roles: list[str],
    *,
    password: str | None = None,
    display_name: str | None = None,
    token: str | None = None,
) -> int:
    """Insert an account (argon2id hash when a password is given; an API token with the user's
    roles when `token` is given) and return its id."""
    from api.accounts.opaque import digest
    from api.accounts.passwords import hash_password

    row = conn.execute(
        "INSERT INTO users (login, display_name, roles, password_hash) VALUES (%s, %s, %s, %s) RETURNING id",
        (login, display_name or login, roles, hash_password(password) if password else None),
    ).fetchone()
    assert row is not None
    user_id = int(str(row[0]))
    if token is not None:
        conn.execute(
            "INSERT INTO api_tokens (user_id, name, prefix, token_hash, roles, expires_at)"
            " VALUES (%s, 'tests', %s, %s, %s, now() + interval '1 day')",
            (user_id, token[:12], digest(token), roles or ["viewer"]),
        )
    return user_id
