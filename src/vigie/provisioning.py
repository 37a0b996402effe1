"""Device provisioning: a station row and its broker account, created, rotated and retired together.

The one implementation behind `vigie stations add/rotate-password/retire` and the API. The
password is returned once and never stored in plain text: the broker keeps only its hash (in
`passwd`, beside the services' accounts), so a lost password is rotated, not looked up. Each
change is applied to the running broker with SIGHUP (no restart, no session lost); when no
broker runs, it applies at its next start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from vigie import stations
from vigie.broker import broker_files, is_reserved_account
from vigie.broker_accounts import new_password, reload_broker, remove_account, set_password
from vigie.errors import ConfigError, ValidationFailed
from vigie.settings import Settings

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class DeviceCredentials:
    """What a technician copies into the gauge's config.json; `password` is shown only once."""

    station: stations.Station
    username: str
    password: str
    # False when no running broker was found: the account applies when the broker next starts.
    broker_reloaded: bool

    def __repr__(self) -> str:
        return f"DeviceCredentials({self.username!r}, reloaded={self.broker_reloaded})"


def broker_directory(settings: Settings) -> Path:
    """The broker directory the settings name (VIGIE_BROKER__DIRECTORY), or ConfigError."""
    if settings.broker.directory is None:
        raise ConfigError("set VIGIE_BROKER__DIRECTORY to the directory `vigie broker init` wrote")
    directory = settings.broker.directory
    if not (directory / "mosquitto.conf").exists():
        raise ConfigError(f"{directory} holds no mosquitto.conf: run `vigie broker init` first")
    return directory


def provision_station(conn: Conn, new: stations.StationIn, broker_dir: Path) -> DeviceCredentials:
    """Create the station and its device account; the station row is rolled back if the account
    cannot be written. Raises ConflictError / ValidationFailed as stations.add does."""
    if is_reserved_account(new.id):
        raise ValidationFailed(f"{new.id!r} is the name of a service or gateway account")
    files = broker_files(broker_dir)
    password = new_password()
    with conn.transaction():
        created = stations.add(conn, new)
        set_password(files.passwd, created.id, password)
    return DeviceCredentials(created, created.id, password, reload_broker(files.pid_file))


def rotate_password(conn: Conn, station_id: str, broker_dir: Path) -> DeviceCredentials:
    """Give an active station a new password; the old one stops working at once."""
    station = stations.get(conn, station_id)
    if not station.active:
        raise ValidationFailed(f"station {station_id!r} is retired: it has no broker account")
    files = broker_files(broker_dir)
    password = new_password()
    set_password(files.passwd, station.id, password)
    return DeviceCredentials(station, station.id, password, reload_broker(files.pid_file))


def retire_station(conn: Conn, station_id: str, broker_dir: Path) -> bool:
    """Mark the station inactive (its readings are kept) and delete its broker account.

    Returns whether a running broker was told. The broker drops the device's live connection
    when it reloads (its account no longer exists).
    """
    stations.set_active(conn, station_id, False)
    files = broker_files(broker_dir)
    remove_account(files.passwd, station_id)
    return reload_broker(files.pid_file)
