"""The gauge simulator: storms, tips, fleet, faults, payloads, and delivery to the real broker."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
import typer
from typer.testing import CliRunner

from simulators.gauges.cli import gauges, parse_when
from simulators.gauges.errors import PublishError, SimulatorError
from simulators.gauges.faults import MALFORMATIONS, FaultInjector, FaultRates
from simulators.gauges.fleet import COMMUNES, make_fleet, register
from simulators.gauges.hyetograph import (
    MONTANA,
    BlockStorm,
    ChicagoStorm,
    Montana,
    depth_between,
    montana_for,
)
from simulators.gauges.model import Message, SentReading, batch_messages, encode, reading_fields
from simulators.gauges.publisher import (
    Connection,
    DevicePublisher,
    GatewayPublisher,
    Publisher,
    PublishStats,
)
from simulators.gauges.runner import RunOptions, Simulation, StormPlan
from simulators.gauges.tips import AccumulateTipper, PoissonTipper
from tests.simulators.contract import payload_errors
from tests.support import Broker, wait_for
from vigie.mqtt import connect_client, make_client, parse_mqtt_url
from vigie.stations import STATION_ID

NOW = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
TIP = 0.2


@dataclass
class MemoryPublisher:
    """Collects messages in memory, for the tests that are about what is sent, not delivery."""

    messages: list[Message] = field(default_factory=list)
    stats: PublishStats = field(default_factory=PublishStats)

    def publish(self, message: Message) -> None:
        self.messages.append(message)

    def flush(self, timeout: float = 60.0) -> bool:
        return True

    def close(self) -> None:
        pass


def run_fleet(
    publisher: Publisher,
    stations: int = 16,
    *,
    hours: float = 6,
    kind: str = "chicago",
    rates: FaultRates | None = None,
    prefix: str = "",
    seed: int = 7,
    **options: Any,
) -> Simulation:
    """A seeded run over the `hours` before NOW with a 10-year storm in the middle."""
    plan = StormPlan(kind, NOW - timedelta(hours=hours / 2 + 1), timedelta(hours=1), montana_for(10))
    opts = RunOptions(start=NOW - timedelta(hours=hours), speed=0, until=NOW, seed=seed, **options)
    sim = Simulation(
        make_fleet(stations, seed=seed, prefix=prefix),
        plan,
        rates or FaultRates(),
        opts,
        publisher,
        clock=lambda: NOW,
    )
    sim.run()
    return sim


def simulate(stations: int = 16, **kwargs: Any) -> tuple[Simulation, MemoryPublisher]:
    """run_fleet() into memory."""
    pub = MemoryPublisher()
    return run_fleet(pub, stations, **kwargs), pub


# --- hyetographs -------------------------------------------------------------------------------


@pytest.mark.parametrize("montana", MONTANA, ids=lambda m: f"T{m.return_period_years}")
@pytest.mark.parametrize("minutes", [30, 60, 180])
def test_chicago_total_is_the_montana_depth(montana: Montana, minutes: int) -> None:
    m = montana_for(montana.return_period_years)
    assert m == montana
    storm = ChicagoStorm(NOW, timedelta(minutes=minutes), m, peak=0.4)
    expected = m.a * minutes ** (1 - m.b)
    assert storm.total_mm == pytest.approx(expected, rel=1e-9)
    assert depth_between(storm, NOW - timedelta(hours=1), NOW + timedelta(hours=5)) == (
        pytest.approx(expected, rel=1e-6)
    )


def test_chicago_windows_around_the_peak_hold_their_design_depth() -> None:
    m = montana_for(10)
    storm = ChicagoStorm(NOW, timedelta(minutes=120), m, peak=0.4)
    peak = NOW + timedelta(minutes=48)
    for d in (10, 20, 45, 90):
        window = depth_between(storm, peak - timedelta(minutes=0.4 * d), peak + timedelta(minutes=0.6 * d))
        assert window == pytest.approx(m.depth_mm(d), rel=1e-6)


def test_chicago_intensity_peaks_at_r_and_stays_finite() -> None:
    storm = ChicagoStorm(NOW, timedelta(minutes=60), montana_for(100), peak=0.3, scale=1.25)
    minute = [
        depth_between(storm, NOW + timedelta(minutes=i), NOW + timedelta(minutes=i + 1)) for i in range(60)
    ]
    assert max(range(60), key=lambda i: minute[i]) in (17, 18)
    # Under the contract's 500 mm/h even at the peak (Montana is capped below 6 minutes).
    assert max(minute) * 60 < 500
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(minute[18:]))


def test_block_storm_is_uniform_and_exact() -> None:
    m = montana_for(2)
    storm = BlockStorm(NOW, timedelta(minutes=60), m)
    assert storm.cumulative_mm(NOW + timedelta(minutes=30)) == pytest.approx(m.depth_mm(60) / 2)
    assert storm.cumulative_mm(NOW + timedelta(hours=3)) == pytest.approx(m.depth_mm(60))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peak": 0.0}, "peak"),
        ({"peak": 1.5}, "peak"),
        ({"duration": timedelta(minutes=2)}, "6 minutes"),
        ({"scale": math.nan}, "scale"),
        ({"scale": -1.0}, "scale"),
    ],
)
def test_impossible_storms_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"start": NOW, "duration": timedelta(minutes=60), "montana": montana_for(10)}
    with pytest.raises(SimulatorError, match=message):
        ChicagoStorm(**{**args, **kwargs})  # type: ignore[arg-type]


def test_unknown_return_period_is_refused() -> None:
    with pytest.raises(SimulatorError, match="T=7"):
        montana_for(7)


# --- tips --------------------------------------------------------------------------------------


def test_accumulated_tips_match_the_rain_within_one_tip() -> None:
    storm = ChicagoStorm(NOW, timedelta(minutes=90), montana_for(20), peak=0.5)
    for seed in range(20):
        tipper = AccumulateTipper(TIP, random.Random(seed))
        instants: list[datetime] = []
        t = NOW - timedelta(minutes=10)
        while t < NOW + timedelta(minutes=100):
            batch = tipper.tips(storm, t, t + timedelta(minutes=5))
            assert all(t <= i < t + timedelta(minutes=5) for i in batch)
            instants += batch
            t += timedelta(minutes=5)
        assert abs(len(instants) * TIP - storm.total_mm) <= TIP


def test_poisson_tips_have_the_rain_as_mean() -> None:
    storm = BlockStorm(NOW, timedelta(minutes=60), montana_for(10))
    counts = [
        len(PoissonTipper(TIP, random.Random(s)).tips(storm, NOW, NOW + timedelta(hours=1)))
        for s in range(40)
    ]
    mean = sum(counts) / len(counts)
    expected = storm.total_mm / TIP
    # 4 standard errors of the mean of 40 Poisson draws.
    assert abs(mean - expected) < 4 * math.sqrt(expected / 40)
    assert len(set(counts)) > 1, "a Poisson process varies between runs"


def test_simulated_fleet_totals_are_whole_tips_within_one_tip_of_the_storm() -> None:
    sim, _ = simulate(16)
    for sid, truth in sim.truth.stations.items():
        assert all(isinstance(t, int) and t >= 0 for t in truth.readings.values())
        assert truth.mm == pytest.approx(round(truth.tips * TIP, 6))
        assert abs(truth.mm - sim.storms[sid].total_mm) <= TIP + 1e-9, sid


# --- fleet -------------------------------------------------------------------------------------


def test_commune_list_matches_the_database(db: psycopg.Connection[tuple[object, ...]]) -> None:
    rows = set(db.execute("SELECT insee, name FROM communes").fetchall())
    assert {(c.insee, c.name) for c in COMMUNES} == rows
    assert len(COMMUNES) == 16


def test_fleet_covers_every_commune_with_valid_ids() -> None:
    fleet = make_fleet(40, seed=3)
    assert len({s.id for s in fleet}) == 40
    assert {s.commune.insee for s in fleet} == {c.insee for c in COMMUNES}
    for s in fleet:
        assert re.match(STATION_ID, s.id), s.id
        assert abs(s.lat - s.commune.lat) < 0.01 and abs(s.lon - s.commune.lon) < 0.015
    assert make_fleet(40, seed=3) == fleet
    assert make_fleet(1)[0].id == "bailly-01"
    assert any(s.id == "melicocq-01" for s in fleet)


@pytest.mark.parametrize(("count", "prefix"), [(0, ""), (10_000, ""), (3, "Bad Prefix"), (3, "x")])
def test_bad_fleet_requests_are_refused(count: int, prefix: str) -> None:
    with pytest.raises(SimulatorError):
        make_fleet(count, prefix=prefix)


def test_register_creates_missing_stations_once(db: psycopg.Connection[tuple[object, ...]]) -> None:
    fleet = make_fleet(20, seed=1, prefix="sim-")
    assert register(db, fleet) == 20
    assert register(db, fleet) == 0
    rows = db.execute(
        "SELECT id, commune_insee, tip_mm, expected_interval_s FROM stations ORDER BY id"
    ).fetchall()
    assert len(rows) == 20
    assert ("sim-bailly-01", "60043", 0.2, 300) in rows


# --- devices, payloads and store-and-forward ---------------------------------------------------


def test_every_payload_follows_the_contract() -> None:
    _sim, pub = simulate(16, offline_rate=0.05)
    ups = [m for m in pub.messages if m.kind == "up"]
    assert any(m.is_batch for m in ups) and any(not m.is_batch for m in ups)
    for m in ups:
        assert payload_errors(m.payload) == [], m.payload[:200]
    statuses = {m.payload for m in pub.messages if m.kind == "status"}
    assert statuses == {b"online", b"offline"}
    assert all(m.retain for m in pub.messages if m.kind == "status")


def test_offline_devices_replay_everything_in_batches() -> None:
    sim, pub = simulate(8, offline_rate=0.1)
    intervals = int(6 * 3600 / 300)
    for sid, truth in sim.truth.stations.items():
        # One reading per interval, whether sent live or replayed after an outage.
        assert len(truth.readings) == intervals, sid
        ends = sorted(truth.readings)
        assert ends[-1] == int(NOW.timestamp())
        assert all(b - a == 300 for a, b in itertools.pairwise(ends))
    assert sim.truth.faults == {}
    seqs = [json.loads(m.payload) for m in pub.messages if m.kind == "up" and m.is_batch]
    assert seqs and all(len(b["readings"]) >= 1 for b in seqs)


def test_dry_heartbeats_cover_the_dry_stretch() -> None:
    _sim, pub = simulate(4, kind="none", heartbeat_s=3600)
    ups = [json.loads(m.payload) for m in pub.messages if m.kind == "up"]
    assert len(ups) == 4 * 6
    assert {u["interval_s"] for u in ups} == {3600}
    assert all(u["tips"] == 0 for u in ups)


def test_heartbeat_devices_close_the_dry_stretch_when_rain_starts() -> None:
    sim, pub = simulate(4, heartbeat_s=3600)
    for sid, truth in sim.truth.stations.items():
        ends = sorted(truth.readings)
        assert abs(truth.mm - sim.storms[sid].total_mm) <= TIP + 1e-9
        ups = [
            r
            for m in pub.messages
            if m.station == sid and m.kind == "up"
            for r in json.loads(m.payload).get("readings", [json.loads(m.payload)])
        ]
        # Contiguous coverage: each reading starts where the previous one ended.
        for prev, cur in itertools.pairwise(ups):
            start = datetime.fromisoformat(cur["ts"]) - timedelta(seconds=cur["interval_s"])
            assert start == datetime.fromisoformat(prev["ts"])
        assert len(ends) < 72


def test_batch_messages_respect_the_size_and_count_limits() -> None:
    items = []
    for i in range(30_000):
        r = SentReading(1_790_000_000 + 300 * i, i % 5, i, 300)
        items.append((r, encode(reading_fields(r, battery_v=3.71, rssi=-87, fw="1.4.2"))))
    messages = batch_messages("bailly-01", items)
    assert len(messages) > 3
    assert sum(len(m.readings) for m in messages) == 30_000
    for m in messages:
        assert len(m.payload) <= 60 * 1024
        body = json.loads(m.payload)
        assert len(body["readings"]) <= 10_000
    few = batch_messages("bailly-01", items[:50], max_readings=20)
    assert [len(m.readings) for m in few] == [20, 20, 10]


def test_batch_size_option_sends_store_and_forward_batches() -> None:
    sim, pub = simulate(2, hours=2, batch_size=6)
    ups = [m for m in pub.messages if m.kind == "up"]
    assert all(m.is_batch and len(m.readings) == 6 for m in ups)
    assert sim.truth.readings == 2 * 24


def test_count_stops_after_n_readings() -> None:
    sim, _ = simulate(10, count=95)
    assert 95 <= sim.readings_sent < 95 + 10
    assert sim.truth.readings == sim.readings_sent


def test_no_timestamp_is_ahead_of_the_clock() -> None:
    sim, _pub = simulate(16, rates=FaultRates(clock_skew=1.0))
    latest = max(ts for st in sim.truth.stations.values() for ts in st.readings)
    assert latest <= NOW.timestamp() + 300


# --- faults ------------------------------------------------------------------------------------


def test_fault_rates_are_honoured_on_a_seeded_run() -> None:
    rates = FaultRates(duplicates=0.05, out_of_order=0.1, malformed=0.03, clock_skew=0.2)
    sim, pub = simulate(16, hours=12, rates=rates, offline_rate=0.01)
    state = sim.injector.state
    for name, rate in (("duplicates", 0.05), ("out_of_order", 0.1), ("malformed", 0.03)):
        n = state.eligible[name]
        k = state.injected.get(name, 0)
        assert n > 1000
        assert abs(k - n * rate) < 4 * math.sqrt(n * rate * (1 - rate)), (name, k, n)
    # Clock skew applies only to live readings: the last interval of this replay.
    assert state.eligible["clock_skew"] <= 16
    # The same seed gives the same run.
    _again, pub2 = simulate(16, hours=12, rates=rates, offline_rate=0.01)
    assert [m.payload for m in pub2.messages] == [m.payload for m in pub.messages]


def test_faults_never_change_what_the_database_should_hold() -> None:
    clean, _ = simulate(16, offline_rate=0.02)
    rates = FaultRates(duplicates=0.1, out_of_order=0.1, malformed=0.1)
    faulty, pub = simulate(16, rates=rates, offline_rate=0.02)
    assert {s: t.readings for s, t in faulty.truth.stations.items()} == {
        s: t.readings for s, t in clean.truth.stations.items()
    }
    bad = [m for m in pub.messages if m.fault in {x.name for x in MALFORMATIONS}]
    assert len(bad) == sum(faulty.truth.expected_dead_letters.values()) > 0
    dup = [m for m in pub.messages if m.fault == "duplicate"]
    assert dup and all(any(o.payload == d.payload and o.fault is None for o in pub.messages) for d in dup)


def test_malformed_payloads_carry_their_documented_reason() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "mqtt.md").read_text()
    for kind in MALFORMATIONS:
        assert f"`{kind.reason}`" in doc
    injector = FaultInjector(FaultRates(malformed=1.0), random.Random(1))
    r = SentReading(1_795_852_800, 2, 5, 300)
    good = Message("bailly-01", "up", encode(reading_fields(r)), (r,))
    seen = set()
    for _ in range(200):
        bad, same = injector.process(good)
        assert same == good
        seen.add(bad.fault)
        assert bad.readings == ()
        assert payload_errors_or_raise(bad.payload)
    assert seen == {m.name for m in MALFORMATIONS}


def payload_errors_or_raise(payload: bytes) -> bool:
    """True when a payload is refused by the contract (or is not even JSON)."""
    try:
        return bool(payload_errors(payload))
    except (ValueError, UnicodeDecodeError):
        return True


def test_out_of_order_messages_arrive_after_a_newer_one() -> None:
    _sim, pub = simulate(4, rates=FaultRates(out_of_order=0.2))
    late = [i for i, m in enumerate(pub.messages) if m.fault == "out_of_order"]
    assert late
    for i in late:
        m = pub.messages[i]
        if m.readings[0].ts == NOW.timestamp():
            continue  # the run's very last reading: released at the end, nothing newer exists
        earlier = [o for o in pub.messages[:i] if o.station == m.station and o.readings]
        assert max(r.ts for o in earlier for r in o.readings) > m.readings[0].ts


def test_clock_skew_moves_live_readings_ahead_without_collisions() -> None:
    injector = FaultInjector(FaultRates(clock_skew=1.0), random.Random(2))
    seen: set[int] = set()
    for i in range(200):
        r = SentReading(1_795_852_800 + 60 * i, 0, i, 60)
        (out,) = injector.process(Message("bailly-01", "up", encode(reading_fields(r)), (r,)))
        skew = out.readings[0].ts - r.ts
        assert 35 <= skew <= 240
        assert out.readings[0].ts not in seen and out.readings[0].ts % 60
        seen.add(out.readings[0].ts)
        assert json.loads(out.payload)["ts"] != json.loads(encode(reading_fields(r)))["ts"]


@pytest.mark.parametrize("field_name", ["duplicates", "out_of_order", "malformed", "clock_skew"])
@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan])
def test_bad_fault_rates_are_refused(field_name: str, value: float) -> None:
    with pytest.raises(SimulatorError, match=field_name):
        FaultRates(**{field_name: value})


# --- the real broker ---------------------------------------------------------------------------


class Counter:
    """A subscriber as vigie-ingest that counts what arrives under a station prefix."""

    def __init__(self, broker: Broker, prefix: str) -> None:
        self.prefix = prefix
        self.payloads: list[bytes] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        address = parse_mqtt_url(broker.url("vigie-ingest"))
        self.client = make_client(address, f"count-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_connect = lambda c, *_a: c.subscribe("vigie/v1/gauges/+/up", qos=1)
        connect_client(self.client, address)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.split("/")[3].startswith(self.prefix):
            with self.lock:
                self.payloads.append(bytes(msg.payload))

    def count(self) -> int:
        with self.lock:
            return len(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def counter(broker: Broker) -> Iterator[Counter]:
    c = Counter(broker, f"t{uuid.uuid4().hex[:6]}-")
    yield c
    c.close()


def test_publisher_delivers_every_message_at_qos1(broker: Broker, counter: Counter) -> None:
    # A small outstanding window forces publish() to wait for PUBACKs many times.
    pub = GatewayPublisher(parse_mqtt_url(broker.url("vigie-simulator")), max_outstanding=50)
    try:
        sim = run_fleet(
            pub,
            40,
            hours=5,
            prefix=counter.prefix,
            offline_rate=0.02,
            rates=FaultRates(duplicates=0.02),
        )
        assert pub.flush(30)
    finally:
        pub.close()
    ups = [m for m in sim.truth.stations.values()]
    sent_up = sum(s.messages for s in ups) - sim.truth.status_messages
    assert sent_up > 2000
    wait_for(lambda: counter.count() >= sent_up, timeout=30)
    assert counter.count() == sent_up
    assert pub.stats.refused == 0 and pub.stats.acked == pub.stats.sent
    got = {ts for p in counter.payloads for ts in _ts_of(p)}
    want = {ts for st in sim.truth.stations.values() for ts in st.readings}
    assert got == want


def _ts_of(payload: bytes) -> set[int]:
    body = json.loads(payload)
    readings = body["readings"] if "readings" in body else [body]
    return {int(datetime.fromisoformat(r["ts"]).timestamp()) for r in readings}


@pytest.mark.parametrize(
    "topic",
    [
        "vigie/v1/cameras/cam-1/events",
        "vigie/v1/gauges/bailly-01/config",
        "vigie/v1/alerts/flood",
        "application/deux-vallees/device/70b3d57ed0001234/event/up",
        "vigie/v2/gauges/bailly-01/up",
    ],
)
def test_gateway_account_cannot_publish_outside_gauge_topics(broker: Broker, topic: str) -> None:
    conn = Connection(parse_mqtt_url(broker.url("vigie-simulator")), f"acl-{uuid.uuid4().hex[:6]}")
    conn.start()
    try:
        conn.publish(topic, b'{"tips": 1}')
        conn.publish("vigie/v1/gauges/bailly-01/up", b"{}")
        assert conn.wait_acked(10)
    finally:
        conn.close()
    # MQTT 5 PUBACK 135 (not authorized) for the forbidden topic only.
    assert conn.stats.refused_topics == {topic: 1}


def test_connection_errors_are_clear(broker: Broker) -> None:
    bad = parse_mqtt_url(broker.url("vigie-simulator")).with_credentials("vigie-simulator", "wrong")
    with pytest.raises(PublishError, match="refused"):
        Connection(bad, "bad-login").start()
    with pytest.raises(PublishError, match="max_outstanding"):
        Connection(bad, "x", max_outstanding=70_000)


# --- the command -------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(gauges)
    return app


def test_cli_registers_publishes_and_writes_truth(
    cli: typer.Typer,
    broker: Broker,
    counter: Counter,
    database_url: str,
    db: psycopg.Connection[tuple[object, ...]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    monkeypatch.setenv("VIGIE_MQTT_URL", broker.url("vigie-simulator"))
    truth = tmp_path / "truth.json"
    args = [
        "--stations",
        "5",
        "--speed",
        "0",
        "--backfill-s",
        "7200",
        "--storm",
        "block",
        "--storm-at",
        "-90",
        "--storm-duration-min",
        "30",
        "--register",
        "--truth",
        str(truth),
        "--prefix",
        counter.prefix,
        "--fault-duplicates",
        "0.1",
        "--seed",
        "3",
        "--duration-s",
        "2",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    data = json.loads(truth.read_text())
    assert summary["readings"] == data["readings"] == 5 * 24
    assert summary["all_acked"] is True and summary["refused"] == 0
    assert data["tips"] > 0 and set(data["stations"]) == {s.id for s in make_fleet(5, prefix=counter.prefix)}
    st = next(iter(data["stations"].values()))
    assert st["mm"] == pytest.approx(st["tips"] * 0.2) and len(st["sent"]) == 24
    ids = {r[0] for r in db.execute("SELECT id FROM stations").fetchall()}
    assert ids == set(data["stations"])
    wait_for(lambda: counter.count() >= data["messages"] - data["status_messages"], timeout=20)
    # The broker password never reaches the output.
    assert broker.password("vigie-simulator") not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storm", "tornado"], "--storm"),
        (["--storm-at", "demain"], "storm-at"),
        (["--storm-at", "2026-11-28T14:00:00"], "offset"),
        (["--return-period", "7"], "T=7"),
        (["--tips", "dice"], "--tips"),
        (["--mqtt-url", "http://x"], "mqtt://"),
    ],
)
def test_cli_refuses_bad_options_clearly(
    cli: typer.Typer, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, broker: Broker
) -> None:
    monkeypatch.setenv("VIGIE_MQTT_URL", broker.url("vigie-simulator"))
    result = CliRunner().invoke(cli, ["--speed", "0", "--backfill-s", "600", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_parse_when() -> None:
    assert parse_when("-30", NOW) == NOW - timedelta(minutes=30)
    assert parse_when("2026-11-28T14:00:00+01:00", NOW) == datetime(2026, 11, 28, 13, tzinfo=UTC)
    for bad in ("inf", "nan", "1e12", "x" * 1000):
        with pytest.raises(SimulatorError):
            parse_when(bad, NOW)


# --- one connection per device -----------------------------------------------------------------


def _retained_status(broker: Broker, station: str) -> bytes | None:
    """The retained status of a station, read as vigie-ingest."""
    got: list[bytes] = []
    done = threading.Event()
    address = parse_mqtt_url(broker.url("vigie-ingest"))
    client = make_client(address, f"status-{uuid.uuid4().hex[:6]}")

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe(f"vigie/v1/gauges/{station}/status", qos=1)
    connect_client(client, address)
    client.loop_start()
    done.wait(3)
    client.disconnect()
    client.loop_stop()
    return got[-1] if got else None


def test_device_connections_use_their_own_account_and_last_will(broker: Broker) -> None:
    station = f"dev-{uuid.uuid4().hex[:6]}"
    other = f"dev-{uuid.uuid4().hex[:6]}"
    # Device accounts exist only on the devices listener.
    device_url = broker.add_device(station)
    pub = DevicePublisher(parse_mqtt_url(device_url), {station: broker.password(station)})
    try:
        r = SentReading(1_795_852_800, 1, 1, 300)
        pub.publish(Message(station, "up", encode(reading_fields(r)), (r,)))
        # The device's own account may not write another station's topic (PUBACK 135).
        conn = pub.conns[station]
        conn.publish(f"vigie/v1/gauges/{other}/up", encode(reading_fields(r)))
        assert pub.flush(10)
        assert pub.stats.refused_topics == {f"vigie/v1/gauges/{other}/up": 1}
        assert _retained_status(broker, station) == b"online"
        # Vanish without DISCONNECT: the broker publishes the Last Will.
        sock = conn.client.socket()
        assert sock is not None
        conn.client.loop_stop()
        sock.close()
        wait_for(lambda: _retained_status(broker, station) == b"offline", timeout=10)
    finally:
        pub.close()
    with pytest.raises(PublishError, match="no broker password"):
        DevicePublisher(parse_mqtt_url(broker.url("vigie-simulator")), {}).publish(
            Message(other, "status", b"online", retain=True)
        )
