"""vigie.provisioning for the async API: each call opens its own synchronous connection in a
worker thread (provisioning writes the broker's files and signals it: blocking work that must
never run on the event loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg

from vigie import provisioning, stations
from vigie.db import APP_API, connect
from vigie.settings import Settings


def _connect(settings: Settings) -> psycopg.Connection[tuple[Any, ...]]:
    return connect(settings.database_url.get_secret_value(), application_name=APP_API, autocommit=True)


def _provision(
    settings: Settings, new: stations.StationIn, broker_dir: Path
) -> provisioning.DeviceCredentials:
    with _connect(settings) as conn:
        return provisioning.provision_station(conn, new, broker_dir)


def _rotate(settings: Settings, station_id: str, broker_dir: Path) -> provisioning.DeviceCredentials:
    with _connect(settings) as conn:
        return provisioning.rotate_password(conn, station_id, broker_dir)


def _retire(settings: Settings, station_id: str, broker_dir: Path) -> bool:
    with _connect(settings) as conn:
        return provisioning.retire_station(conn, station_id, broker_dir)


async def provision(
    settings: Settings, new: stations.StationIn, broker_dir: Path
) -> provisioning.DeviceCredentials:
    """provisioning.provision_station, off the event loop."""
    return await asyncio.to_thread(_provision, settings, new, broker_dir)


async def rotate(settings: Settings, station_id: str, broker_dir: Path) -> provisioning.DeviceCredentials:
    """provisioning.rotate_password, off the event loop."""
    return await asyncio.to_thread(_rotate, settings, station_id, broker_dir)


async def retire(settings: Settings, station_id: str, broker_dir: Path) -> bool:
    """provisioning.retire_station, off the event loop; whether a running broker was told."""
    return await asyncio.to_thread(_retire, settings, station_id, broker_dir)
