"""Stations managed through the API: create (with its device account), change, retire, rotate
the device's password, and read its health.

Provisioning is vigie.provisioning's (the same code as `vigie stations add`): it takes a
synchronous connection and writes the broker's files, so it runs in a worker thread, never on
the event loop. The MQTT password is in the answer once and nowhere else (not in logs, not in
the audit log)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path

from api.accounts import audit
from api.auth import STAFF, Principal, Role, audited, require
from api.deps import Pool, SettingsDep
from api.openapi import json_body
from api.queries import provisioning as provisioning_calls
from api.routes._common import VigieRoute, parse
from api.schemas.errors import error_responses
from api.schemas.stations import (
    DeadLetterBrief,
    DeviceCredentialsOut,
    StationHealth,
    StationStatus,
    StationUpdate,
)
from vigie import device_health, provisioning, stations, stations_queries
from vigie.errors import ConfigError, ConflictError, NotFoundError, ValidationFailed
from vigie.settings import Settings

router = APIRouter(prefix="/api/v1/stations", tags=["stations"], route_class=VigieRoute)

StationId = Annotated[str, Path(min_length=1, max_length=64)]
WRITE = require(Role.TECHNICIAN, Role.ADMIN)


def _broker_dir(settings: Settings) -> FsPath:
    try:
        return provisioning.broker_directory(settings)
    except ConfigError:
        raise HTTPException(
            503,
            "gestion des comptes d'appareils indisponible : le répertoire du broker n'est pas"
            " configuré (VIGIE_BROKER__DIRECTORY, écrit par `vigie broker init`)",
        ) from None


def _french(exc: Exception, station_id: str) -> Exception:
    """provisioning's errors are worded for the CLI (English); the API answers in French."""
    if isinstance(exc, NotFoundError):
        return NotFoundError(f"station inconnue : {station_id}")
    if isinstance(exc, ConflictError):
        return ConflictError(f"la station {station_id} ou son devEUI existe déjà")
    if isinstance(exc, ValidationFailed):
        text = str(exc)
        if "reserved" in text or "service or gateway" in text:
            return ValidationFailed(
                f"identifiant réservé (compte d'un service ou d'une passerelle) : {station_id}"
            )
        if "retired" in text:
            return ValidationFailed(f"station retirée : elle n'a plus de compte sur le broker ({station_id})")
        if "commune" in text:
            return ValidationFailed("commune inconnue : ce n'est pas une commune des Deux Vallées")
    return exc


def _credentials(creds: provisioning.DeviceCredentials) -> DeviceCredentialsOut:
    return DeviceCredentialsOut(
        station=creds.station.id,
        username=creds.username,
        password=creds.password,
        broker_reloaded=creds.broker_reloaded,
    )


@router.post(
    "",
    status_code=201,
    responses=error_responses(409, 503),
    openapi_extra=json_body(stations.StationIn),
)
async def create_station(
    pool: Pool,
    settings: SettingsDep,
    principal: Annotated[Principal, WRITE],
    body: Annotated[dict[str, Any], Body()],
) -> DeviceCredentialsOut:
    """Create a station and its device account; the MQTT password is in this answer only."""
    new = parse(stations.StationIn, body, "station refusée")
    broker_dir = _broker_dir(settings)
    try:
        creds = await provisioning_calls.provision(settings, new, broker_dir)
    except (NotFoundError, ConflictError, ValidationFailed) as exc:
        raise _french(exc, new.id) from None
    # Recorded here, not by audited(): the path holds no station id. Never the password.
    async with pool.connection() as conn:
        await audit.record(conn, principal.actor, "station.provisioned", f"/api/v1/stations/{new.id}")
    return _credentials(creds)


@router.patch("/{station_id}", dependencies=[WRITE], responses=error_responses(404, 409))
async def update_station(
    pool: Pool, station_id: StationId, body: Annotated[dict[str, Any], Body()]
) -> StationStatus:
    """Change a station's description (name, commune, place, bucket, interval, devEUI)."""
    changes = parse(StationUpdate, body, "modification refusée").model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k not in {"altitude_m", "dev_eui"})
    if nulls:
        raise ValidationFailed(f"modification refusée : {', '.join(nulls)} ne peut pas être vide")
    async with pool.connection() as conn:
        try:
            found = await stations_queries.update(conn, station_id, changes)
        except ConflictError:
            raise ConflictError("ce devEUI est déjà celui d'une autre station") from None
        except ValidationFailed:
            raise ValidationFailed("commune inconnue : ce n'est pas une commune des Deux Vallées") from None
        row = await stations_queries.get_with_status(conn, station_id) if found else None
    if row is None:
        raise NotFoundError(f"station inconnue : {station_id}")
    return StationStatus.model_validate(row)


@router.delete(
    "/{station_id}",
    status_code=204,
    dependencies=[WRITE, audited("deleted")],
    responses=error_responses(404, 503),
)
async def retire_station(settings: SettingsDep, station_id: StationId) -> None:
    """Retire a station: its device account is deleted (the broker drops it at once) and it is
    marked inactive; its readings are kept, so history and past incidents stay whole."""
    broker_dir = _broker_dir(settings)
    try:
        await provisioning_calls.retire(settings, station_id, broker_dir)
    except NotFoundError as exc:
        raise _french(exc, station_id) from None


@router.post(
    "/{station_id}/credentials/rotate",
    dependencies=[WRITE, audited("station.credentials.rotated")],
    responses=error_responses(404, 422, 503),
)
async def rotate_credentials(settings: SettingsDep, station_id: StationId) -> DeviceCredentialsOut:
    """A new MQTT password for the device (shown once); the old one stops working at once."""
    broker_dir = _broker_dir(settings)
    try:
        creds = await provisioning_calls.rotate(settings, station_id, broker_dir)
    except (NotFoundError, ValidationFailed) as exc:
        raise _french(exc, station_id) from None
    return _credentials(creds)


@router.get("/{station_id}/health", dependencies=[require(*STAFF)], responses=error_responses(404))
async def station_health(pool: Pool, settings: SettingsDep, station_id: StationId) -> StationHealth:
    """Last seen, battery, RSSI, firmware, status (online, late, offline, low_battery), quality
    flags and dead letters of the last 24 h."""
    async with pool.connection() as conn:
        row = await stations_queries.get_with_status(conn, station_id)
        if row is None:
            raise NotFoundError(f"station inconnue : {station_id}")
        flags = await stations_queries.flag_counts(conn, station_id)
        dead_total, dead = await stations_queries.recent_dead_letters(conn, station_id)
    status = device_health.status(
        datetime.now(UTC),
        row["last_seen"],
        row["expected_interval_s"],
        row["online"],
        row["battery_v"],
        settings.maintenance.low_battery_v,
    )
    return StationHealth(
        station=station_id,
        status=status.value,
        last_seen=row["last_seen"],
        battery_v=row["battery_v"],
        rssi=row["rssi"],
        fw=row["fw"],
        expected_interval_s=row["expected_interval_s"],
        flags_24h=flags,
        dead_letters_24h=dead_total,
        dead_letters=[DeadLetterBrief.model_validate(d) for d in dead],
    )
