"""`vigie stations …`: add, list, rotate and retire gauges (and their broker accounts) from a shell."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from vigie import provisioning, stations
from vigie.db import APP_CLI, connect
from vigie.errors import VigieError
from vigie.settings import Settings

app = typer.Typer(help="Rain-gauge stations.", no_args_is_help=True)
T = TypeVar("T")


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List stations."""
    with connect(Settings().database_url.get_secret_value(), application_name=APP_CLI) as conn:
        rows = stations.list_all(conn)
    for s in rows:
        if as_json:
            typer.echo(s.model_dump_json())
        else:
            typer.echo(
                f"{s.id:24} {s.commune_name:26} {s.lat:8.4f} {s.lon:8.4f} {'actif' if s.active else 'retiré'}"
            )


@app.command("add")
def add_cmd(
    station_id: Annotated[str, typer.Argument(help="slug, e.g. thourotte-mairie")],
    name: Annotated[str, typer.Option()],
    commune: Annotated[str, typer.Option(help="INSEE code, e.g. 60636")],
    lat: Annotated[float, typer.Option()],
    lon: Annotated[float, typer.Option()],
    altitude: Annotated[float | None, typer.Option()] = None,
    tip_mm: Annotated[float, typer.Option()] = 0.2,
    interval_s: Annotated[int, typer.Option()] = 300,
    dev_eui: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a station and its broker account; print the account's password, once."""
    try:
        new = stations.StationIn(
            id=station_id,
            name=name,
            commune_insee=commune,
            lat=lat,
            lon=lon,
            altitude_m=altitude,
            tip_mm=tip_mm,
            expected_interval_s=interval_s,
            dev_eui=dev_eui,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    creds = _with_broker(lambda conn, broker_dir: provisioning.provision_station(conn, new, broker_dir))
    typer.echo(json.dumps(creds.station.model_dump(mode="json")))
    _print_credentials(creds)


def _print_credentials(creds: provisioning.DeviceCredentials) -> None:
    typer.echo(f"MQTT username: {creds.username}")
    typer.echo(f"MQTT password: {creds.password}")
    typer.echo("Copy it into the gauge's config.json now: it is shown once and stored only hashed.")
    if not creds.broker_reloaded:
        typer.echo("No running broker found: the account applies when the broker starts.", err=True)


def _with_broker(action: Callable[[provisioning.Conn, Path], T]) -> T:
    """Run a provisioning step with the database and the broker directory; errors exit 2."""
    try:
        settings = Settings()
        broker_dir = provisioning.broker_directory(settings)
        with connect(settings.database_url.get_secret_value(), application_name=APP_CLI) as conn:
            return action(conn, broker_dir)
    except VigieError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("rotate-password")
def rotate_cmd(station_id: str) -> None:
    """Give a station's broker account a new password (the old one stops working now)."""
    _print_credentials(_with_broker(lambda conn, d: provisioning.rotate_password(conn, station_id, d)))


@app.command("retire")
def retire_cmd(station_id: str) -> None:
    """Mark a station inactive (its readings are kept) and delete its broker account."""
    reloaded = _with_broker(lambda conn, d: provisioning.retire_station(conn, station_id, d))
    note = "" if reloaded else " (no running broker found)"
    typer.echo(f"{station_id} retired; broker account deleted{note}")
