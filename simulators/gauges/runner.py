"""The simulation loop: the fleet's devices, a storm over the valley, faults, pacing, truth.

Time is real UTC. To go faster than real time the run replays the past: it starts `backfill`
ago and advances `speed` simulated seconds per wall second until it catches up with now, then
continues in real time. No timestamp is ever ahead of the clock (clock skew faults aside, and
those stay under ingest's 5-minute limit).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simulators.gauges.errors import SimulatorError
from simulators.gauges.faults import FaultInjector, FaultRates
from simulators.gauges.fleet import SimStation
from simulators.gauges.hyetograph import BlockStorm, ChicagoStorm, Montana, NoRain, Storm
from simulators.gauges.model import Device, Message
from simulators.gauges.publisher import Publisher
from simulators.gauges.tips import AccumulateTipper, PoissonTipper, Tipper
from simulators.gauges.truth import Truth

log = logging.getLogger("vigie.simulate.gauges")

# The storm crosses the valley west to east at this speed (km/h); 1° of longitude ≈ 72 km here.
STORM_SPEED_KMH = 30.0
KM_PER_DEG_LON = 72.0


@dataclass(frozen=True)
class StormPlan:
    """The areal storm: kind (none|chicago|block), start, duration, Montana row, peak r."""

    kind: str
    start: datetime
    duration: timedelta
    montana: Montana
    peak: float = 0.4
    # Each gauge gets between (1 - spread) and (1 + spread) of the areal depth.
    spread: float = 0.25

    def for_station(self, station: SimStation, west_lon: float, rng: random.Random) -> Storm:
        """The storm as this gauge sees it: later further east, a little more or less rain."""
        lag_h = (station.lon - west_lon) * KM_PER_DEG_LON / STORM_SPEED_KMH
        start = self.start + timedelta(hours=lag_h)
        scale = rng.uniform(1.0 - self.spread, 1.0 + self.spread)
        builder = STORM_KINDS.get(self.kind)
        if builder is None:
            raise SimulatorError(f"unknown storm kind {self.kind!r} (none, chicago, block)")
        return builder(self, start, scale)


STORM_KINDS: dict[str, Callable[[StormPlan, datetime, float], Storm]] = {
    "none": lambda p, s, _k: NoRain(s),
    "chicago": lambda p, s, k: ChicagoStorm(s, p.duration, p.montana, p.peak, k),
    "block": lambda p, s, k: BlockStorm(s, p.duration, p.montana, k),
}

TIPPERS: dict[str, Callable[[float, random.Random], Tipper]] = {
    "accumulate": lambda tip, rng: AccumulateTipper(tip, rng),
    "poisson": lambda tip, rng: PoissonTipper(tip, rng),
}


@dataclass(frozen=True)
class RunOptions:
    """How long and how fast to run."""

    start: datetime  # first interval ends after this instant (the backfill start)
    speed: float = 1.0  # simulated seconds per wall second; 0 = as fast as possible
    until: datetime | None = None  # last simulated instant
    duration_s: float | None = None  # wall-clock limit
    count: int | None = None  # stop after this many readings
    heartbeat_s: int = 0
    offline_rate: float = 0.0
    batch_size: int = 1
    tipper: str = "accumulate"
    seed: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Simulation:
    """Runs the fleet until `until`, `duration_s`, `count` or the stop event; run() → Truth."""

    def __init__(
        self,
        fleet: list[SimStation],
        storm: StormPlan,
        rates: FaultRates,
        options: RunOptions,
        publisher: Publisher,
        *,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if options.speed < 0:
            raise SimulatorError("speed must be ≥ 0 (0 = as fast as possible)")
        if options.tipper not in TIPPERS:
            raise SimulatorError(f"unknown tip model {options.tipper!r}")
        if options.start.tzinfo is None:
            raise SimulatorError("start must be timezone-aware")
        if not fleet or len({s.interval_s for s in fleet}) != 1:
            raise SimulatorError("the fleet must be non-empty, with one reporting interval")
        self.fleet = fleet
        self.options = options
        self.publisher = publisher
        self.stop = stop or threading.Event()
        self.clock = clock
        self.monotonic = monotonic
        rng = random.Random(options.seed)
        west = min(s.lon for s in fleet)
        self.storms = {s.id: storm.for_station(s, west, rng) for s in fleet}
        self.devices = [
            Device(
                station=s,
                tipper=TIPPERS[options.tipper](s.tip_mm, random.Random(rng.random())),
                rng=random.Random(rng.random()),
                start=options.start,
                heartbeat_s=options.heartbeat_s,
                offline_rate=options.offline_rate,
                batch_size=options.batch_size,
            )
            for s in fleet
        ]
        self.injector = FaultInjector(rates, random.Random(rng.random()), live=True)
        self.truth = Truth(started_at=clock())
        for s in fleet:
            self.truth.add_station(s.id, s.tip_mm)
        self.readings_sent = 0

    def _interval(self) -> timedelta:
        return timedelta(seconds=min(s.interval_s for s in self.fleet))

    def _first_end(self) -> datetime:
        step = int(self._interval().total_seconds())
        epoch = int(self.options.start.timestamp())
        return datetime.fromtimestamp((epoch // step + 1) * step, UTC)

    def _done(self, t: datetime, wall0: float) -> bool:
        o = self.options
        if self.stop.is_set():
            return True
        if o.until is not None and t > o.until:
            return True
        if o.duration_s is not None and self.monotonic() - wall0 >= o.duration_s:
            return True
        return o.count is not None and self.readings_sent >= o.count

    def _pace(self, t: datetime, wall0: float) -> None:
        """Wait until simulated instant t may be sent: never ahead of now, at most `speed` times real time."""
        if self.options.speed > 0:
            sim_elapsed = (t - self.options.start).total_seconds()
            wait = wall0 + sim_elapsed / self.options.speed - self.monotonic()
            if wait > 0:
                self.stop.wait(wait)
        while not self.stop.is_set() and not self._done(t - self._interval(), wall0):
            ahead = (t - self.clock()).total_seconds()
            if ahead <= 0:
                return
            self.stop.wait(min(ahead, 1.0))

    def _send(self, message: Message) -> None:
        limit = self.options.count
        if limit is not None and self.readings_sent >= limit and message.readings:
            return
        self.publisher.publish(message)
        self.truth.record(message)
        if message.fault in (None, "out_of_order", "clock_skew"):
            self.readings_sent += len(message.readings)

    def _emit(self, messages: list[Message]) -> None:
        for message in messages:
            for out in self.injector.process(message):
                self._send(out)

    def run(self) -> Truth:
        """Run to the end; returns the ground truth (also kept in self.truth)."""
        wall0 = self.monotonic()
        t = self._first_end()
        for s in self.fleet:
            self._send(Message(s.id, "status", b"online", retain=True))
        steps = 0
        while not self._done(t, wall0):
            self._pace(t, wall0)
            if self._done(t, wall0) or (t - self.clock()).total_seconds() > 0:
                break
            # Clock skew only on live readings: a replayed past one cannot be ahead of the clock.
            self.injector.state.live = (self.clock() - t).total_seconds() < 60
            for device in self.devices:
                self._emit(device.step(t, self.storms[device.station.id]))
            steps += 1
            if steps % 100 == 0:
                log.info("simulated up to %s: %d readings sent", t.isoformat(), self.readings_sent)
            t += self._interval()
        self._finish(t)
        return self.truth

    def _finish(self, t: datetime) -> None:
        counted = self.options.count is not None and self.readings_sent >= self.options.count
        for message in self.injector.drain():
            self._send(message)
        for device in self.devices:
            st = self.truth.stations[device.station.id]
            st.overwritten = device.overwritten
            if counted:
                # Stopped by --count: what the devices still hold is reported, not sent.
                st.unsent = device.held
                continue
            for message in device.flush():
                self._send(message)
        self.truth.expected_dead_letters = dict(self.injector.state.dead_letters)
