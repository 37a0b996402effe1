"""`vigie simulate …`: the gauge fleet, the webcam and the notification sinks."""

from __future__ import annotations

import typer

from simulators.gauges.cli import gauges
from simulators.sinks import sinks
from simulators.webcam.cli import webcam

app = typer.Typer(
    help="Simulators with ground truth, for the demo, the tests and the benchmarks.", no_args_is_help=True
)
app.command("gauges")(gauges)
app.command("webcam")(webcam)
app.command("sinks")(sinks)
