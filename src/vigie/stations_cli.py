"""`vigie stations …`: add, list and retire gauges from a shell."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigie import stations
from vigie.db import APP_CLI, connect
from vigie.errors import VigieError
from vigie.settings import Settings

app = typer.Typer(help="Rain-gauge stations.", no_args_is_help=True)


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
    """Add a station."""
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
        with connect(Settings().database_url.get_secret_value(), application_name=APP_CLI) as conn:
            created = stations.add(conn, new)
    except (VigieError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(created.model_dump(mode="json")))


@app.command("retire")
def retire_cmd(station_id: str) -> None:
    """Mark a station inactive (its readings are kept)."""
    try:
        with connect(Settings().database_url.get_secret_value(), application_name=APP_CLI) as conn:
            stations.set_active(conn, station_id, False)
    except VigieError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
