"""`vigie simulate gauges`: a simulated fleet publishing to the broker."""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from simulators.gauges.errors import SimulatorError
from simulators.gauges.faults import FaultRates
from simulators.gauges.fleet import make_fleet, register
from simulators.gauges.hyetograph import montana_for
from simulators.gauges.publisher import DevicePublisher, GatewayPublisher, Publisher
from simulators.gauges.runner import STORM_KINDS, TIPPERS, RunOptions, Simulation, StormPlan
from vigie.broker import read_credentials
from vigie.db import APP_SIMULATOR, connect
from vigie.errors import VigieError
from vigie.logs import redact, setup_logging_from
from vigie.mqtt import parse_mqtt_url, service_address
from vigie.settings import Settings

log = logging.getLogger("vigie.simulate.gauges")

GATEWAY_ACCOUNT = "vigie-simulator"
# With --speed above 1 and no --backfill-s, the run starts this far in the past.
DEFAULT_BACKFILL_S = 3600
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO 8601 instant with offset, or minutes relative to now ('-30' = half an hour ago)."""
    try:
        minutes = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(minutes) or abs(minutes) > 60 * 24 * 400:
            raise SimulatorError("--storm-at: minutes must be finite and within 400 days")
        return now + timedelta(minutes=minutes)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SimulatorError(f"--storm-at: not ISO 8601 nor minutes: {text[:40]!r}") from exc
    if when.tzinfo is None:
        raise SimulatorError("--storm-at needs a UTC offset, e.g. 2026-11-28T14:00:00Z")
    return when.astimezone(UTC)


def backfill_for(speed: float, count: int | None, stations: int, interval_s: int) -> int:
    """How far in the past to start: enough history for --count, an hour when accelerated."""
    if count is not None:
        return (math.ceil(count / stations) + 1) * interval_s
    return DEFAULT_BACKFILL_S if speed != 1 else 0


def gauges(
    stations: Annotated[int, typer.Option(min=1, max=9999, help="Number of gauges")] = 16,
    interval_s: Annotated[int, typer.Option(min=10, max=86400, help="Reporting interval, s")] = 300,
    speed: Annotated[
        float,
        typer.Option(
            min=0,
            help="Simulated seconds per wall second; replays the past until it reaches now."
            " 0 = as fast as possible",
        ),
    ] = 1.0,
    backfill_s: Annotated[
        int | None,
        typer.Option(min=0, max=400 * 86400, help="Start this long ago (default: see docs)"),
    ] = None,
    storm: Annotated[str, typer.Option(help="none | chicago | block")] = "chicago",
    storm_at: Annotated[
        str | None,
        typer.Option(help="Storm start: ISO 8601, or minutes from now ('-30'); default: soon"),
    ] = None,
    storm_duration_min: Annotated[float, typer.Option(min=6, max=24 * 60, help="Storm duration, min")] = 60.0,
    return_period: Annotated[
        int, typer.Option(help="Return period of the design storm, years (2,5,10,20,50,100)")
    ] = 10,
    peak: Annotated[float, typer.Option(min=0.05, max=0.95, help="Chicago peak position r")] = 0.4,
    tips: Annotated[str, typer.Option(help="Tip model: accumulate | poisson")] = "accumulate",
    duration_s: Annotated[float | None, typer.Option(min=0, help="Stop after this many wall seconds")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after N readings")] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Readings per message (store-and-forward)")
    ] = 1,
    heartbeat_s: Annotated[
        int, typer.Option(min=0, help="When dry, report only this often (0: every interval)")
    ] = 0,
    offline_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Chance per interval that a gauge goes offline")
    ] = 0.0,
    fault_duplicates: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    fault_out_of_order: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    fault_malformed: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    fault_clock_skew: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same run")] = 0,
    mqtt_url: Annotated[
        str | None, typer.Option(help="Broker URL (default: VIGIE_MQTT_URL)", show_default=False)
    ] = None,
    broker_credentials: Annotated[
        Path | None, typer.Option(help="credentials.env with the gateway/device passwords")
    ] = None,
    per_device: Annotated[
        bool, typer.Option(help="One connection per gauge, as its own account, with a Last Will")
    ] = False,
    prefix: Annotated[str, typer.Option(help="Station id prefix, e.g. 'sim-'")] = "",
    register_stations: Annotated[
        bool, typer.Option("--register", help="Create missing stations in the database")
    ] = False,
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth JSON here")] = None,
) -> None:
    """Publish a simulated fleet of rain gauges (storms, tips, outages, faults) to the broker."""
    settings = Settings()
    setup_logging_from(settings)
    args = GaugeArgs(**locals())
    try:
        _run(settings, args)
    except (VigieError, psycopg.Error) as exc:
        typer.echo(f"erreur : {redact(str(exc))}", err=True)
        raise typer.Exit(code=2) from exc


@dataclass(frozen=True)
class GaugeArgs:
    """The command's options, as typed values."""

    settings: Settings
    stations: int
    interval_s: int
    speed: float
    backfill_s: int | None
    storm: str
    storm_at: str | None
    storm_duration_min: float
    return_period: int
    peak: float
    tips: str
    duration_s: float | None
    count: int | None
    batch_size: int
    heartbeat_s: int
    offline_rate: float
    fault_duplicates: float
    fault_out_of_order: float
    fault_malformed: float
    fault_clock_skew: float
    seed: int
    mqtt_url: str | None
    broker_credentials: Path | None
    per_device: bool
    prefix: str
    register_stations: bool
    truth: Path | None


def build_simulation(
    a: GaugeArgs, publisher: Publisher, *, now: datetime, stop: threading.Event | None = None
) -> Simulation:
    """The Simulation the options describe (registering the stations first if asked)."""
    if a.storm not in STORM_KINDS:
        raise SimulatorError(f"--storm must be one of {', '.join(STORM_KINDS)}")
    if a.tips not in TIPPERS:
        raise SimulatorError(f"--tips must be one of {', '.join(TIPPERS)}")
    backfill = a.backfill_s
    if backfill is None:
        backfill = backfill_for(a.speed, a.count, a.stations, a.interval_s)
    start = now - timedelta(seconds=backfill)
    storm_start = parse_when(a.storm_at, now) if a.storm_at else start + timedelta(minutes=5)
    plan = StormPlan(
        kind=a.storm,
        start=storm_start,
        duration=timedelta(minutes=a.storm_duration_min),
        montana=montana_for(a.return_period),
        peak=a.peak,
    )
    fleet = make_fleet(a.stations, seed=a.seed, interval_s=a.interval_s, prefix=a.prefix)
    rates = FaultRates(
        duplicates=a.fault_duplicates,
        out_of_order=a.fault_out_of_order,
        malformed=a.fault_malformed,
        clock_skew=a.fault_clock_skew,
    )
    options = RunOptions(
        start=start,
        speed=a.speed,
        duration_s=a.duration_s,
        count=a.count,
        heartbeat_s=a.heartbeat_s,
        offline_rate=a.offline_rate,
        batch_size=a.batch_size,
        tipper=a.tips,
        seed=a.seed,
    )
    log.info(
        "simulating %d gauges from %s at speed %g, storm %s at %s",
        a.stations,
        start.isoformat(timespec="seconds"),
        a.speed,
        plan.kind,
        plan.start.isoformat(timespec="seconds"),
    )
    return Simulation(fleet, plan, rates, options, publisher, stop=stop)


def make_publisher(a: GaugeArgs) -> Publisher:
    """The gateway connection, or one connection per device with --per-device."""
    settings = a.settings
    url = a.mqtt_url or settings.mqtt_url.get_secret_value()
    if a.per_device:
        if a.broker_credentials is None:
            raise SimulatorError("--per-device needs --broker-credentials with each gauge's password")
        return DevicePublisher(
            parse_mqtt_url(url, settings.mqtt_ca_file),
            read_credentials(a.broker_credentials),
            root=settings.topic_root,
        )
    credentials = a.broker_credentials or settings.mqtt_credentials_file
    if parse_mqtt_url(url).username is None and credentials is None:
        raise SimulatorError(
            "the MQTT URL has no user: put vigie-simulator's credentials in it or pass --broker-credentials"
        )
    address = service_address(url, GATEWAY_ACCOUNT, credentials, settings.mqtt_ca_file)
    return GatewayPublisher(address, root=settings.topic_root)


def _run(settings: Settings, a: GaugeArgs) -> None:
    if a.register_stations:
        fleet = make_fleet(a.stations, seed=a.seed, interval_s=a.interval_s, prefix=a.prefix)
        url = settings.database_url.get_secret_value()
        with connect(url, application_name=APP_SIMULATOR, autocommit=True) as conn:
            created = register(conn, fleet)
        log.info("%d station(s) created, %d already there", created, len(fleet) - created)
    stop = threading.Event()
    # SIGTERM/Ctrl-C end the run cleanly: devices flush, PUBACKs awaited, truth written.
    previous = {sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in STOP_SIGNALS}
    try:
        publisher = make_publisher(a)
        try:
            sim = build_simulation(a, publisher, now=datetime.now(UTC), stop=stop)
            result = sim.run()
            acked = publisher.flush(60.0)
        finally:
            publisher.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    result.refused = publisher.stats.refused
    result.no_subscriber = publisher.stats.no_subscriber
    if a.truth is not None:
        result.write(a.truth)
    summary = {
        "stations": a.stations,
        "messages": result.messages,
        "readings": result.readings,
        "tips": result.tips,
        "refused": result.refused,
        "no_subscriber": result.no_subscriber,
        "all_acked": acked,
        "faults": result.faults,
        "expected_dead_letters": result.expected_dead_letters,
    }
    typer.echo(json.dumps(summary))
    if not acked:
        raise SimulatorError("some messages were never acknowledged by the broker")
