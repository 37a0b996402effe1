"""`vigie exercise`: start a PCS exercise (replay a past incident or a synthetic storm), play it,
and print its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from psycopg.rows import dict_row
from pydantic import ValidationError

from alerts.exercise import ExerciseRunner, create, utcnow
from vigie import exercises as ex
from vigie.db import APP_CLI, connect
from vigie.logs import setup_logging
from vigie.settings import Settings

app = typer.Typer(help="Exercices du PCS : rejouer un orage passé ou simulé.", no_args_is_help=True)


@app.command("start")
def start(
    name: Annotated[str, typer.Option(help="Nom de l'exercice")],
    incident: Annotated[int | None, typer.Option(help="Rejouer cet incident passé")] = None,
    synthetic: Annotated[
        Path | None, typer.Option(help="Fichier JSON d'un orage simulé (communes, steps)")
    ] = None,
    speed: Annotated[float, typer.Option(help="Accélération (1 = temps réel)")] = 1.0,
    by: Annotated[str, typer.Option(help="Qui lance l'exercice")] = "cli",
    play: Annotated[
        bool, typer.Option(help="Jouer l'exercice ici jusqu'au bout (sinon : le service alerts)")
    ] = True,
) -> None:
    """Create an exercise; play it in the foreground and print its report (unless --no-play)."""
    settings = Settings()
    setup_logging(settings.log_level)
    try:
        storm = json.loads(synthetic.read_text("utf-8")) if synthetic is not None else None
        body = ex.ExerciseIn.model_validate(
            {"name": name, "incident_id": incident, "synthetic": storm, "speed": speed}
        )
    except (ValidationError, ValueError, OSError) as exc:
        typer.echo(f"exercice refusé : {str(exc)[:500]}", err=True)
        raise typer.Exit(2) from exc
    url = settings.database_url.get_secret_value()
    with connect(url, application_name=APP_CLI, autocommit=True) as conn:
        try:
            exercise_id = create(conn, body, by, utcnow())
        except ValueError as exc:
            typer.echo(f"exercice refusé : {exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(f"exercice {exercise_id} créé")
    if play:
        ExerciseRunner(url, poll_s=1.0, only=exercise_id).run()
        report(exercise_id)


@app.command("report")
def report(exercise_id: Annotated[int, typer.Argument(help="Numéro de l'exercice")]) -> None:
    """Print the exercise report (JSON): each hop's duration."""
    settings = Settings()
    with (
        connect(settings.database_url.get_secret_value(), application_name=APP_CLI) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        exercise = cur.execute(ex.EXERCISE_SQL, (exercise_id,)).fetchone()
        if exercise is None:
            typer.echo(f"exercice inconnu : {exercise_id}", err=True)
            raise typer.Exit(1)
        steps = cur.execute(ex.REPORT_SQL, (exercise_id,)).fetchall()
    typer.echo(json.dumps(ex.report(exercise, steps), default=str, ensure_ascii=False, indent=2))
