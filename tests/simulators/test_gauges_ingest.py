"""The simulator's ground truth against the real ingest service and database, end to end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from simulators.gauges.faults import FaultRates
from simulators.gauges.fleet import make_fleet, register
from simulators.gauges.hyetograph import montana_for
from simulators.gauges.publisher import GatewayPublisher
from simulators.gauges.runner import RunOptions, Simulation, StormPlan
from tests.support import Broker, Service, running, wait_for
from vigie.mqtt import parse_mqtt_url


def test_database_matches_the_simulators_ground_truth(
    db: psycopg.Connection[tuple[object, ...]],
    broker: Broker,
    service_env: dict[str, str],
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    fleet = make_fleet(8, seed=11, prefix=f"e{tag}-")
    register(db, fleet)
    # The last 6 h up to a recent instant: every ts is in the past and within retention.
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    plan = StormPlan("chicago", now - timedelta(hours=4), timedelta(hours=1), montana_for(10))
    rates = FaultRates(duplicates=0.05, out_of_order=0.05, malformed=0.03)
    options = RunOptions(start=now - timedelta(hours=6), speed=0, until=now, seed=11, offline_rate=0.02)
    env = {
        **service_env,
        "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}",
        "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
    }
    ingest = Service(["ingest"], env, tmp_path / "ingest.log")
    with running(ingest, ready="subscribed to"):
        pub = GatewayPublisher(parse_mqtt_url(broker.url("vigie-simulator")))
        try:
            sim = Simulation(fleet, plan, rates, options, pub, clock=lambda: now)
            truth = sim.run()
            assert pub.flush(30)
        finally:
            pub.close()
        dead_expected = sum(truth.expected_dead_letters.values())
        assert dead_expected > 0 and truth.faults.get("duplicate", 0) > 0

        # Only this fleet's rows: the session broker holds other tests' retained statuses.
        mine = f"vigie/v1/gauges/e{tag}-%"

        def settled() -> tuple[object, ...] | None:
            return db.execute(
                "SELECT (SELECT count(*) FROM rain_readings),"
                " (SELECT count(*) FROM dead_letters WHERE topic LIKE %s)",
                (mine,),
            ).fetchone()

        wait_for(lambda: settled() == (truth.readings, dead_expected), timeout=30)
    stored = {
        r[0]: r[1]
        for r in db.execute("SELECT station_id, sum(tips)::int FROM rain_readings GROUP BY station_id")
    }
    assert stored == {sid: st.tips for sid, st in truth.stations.items()}
    by_reason = db.execute(
        "SELECT reason, count(*)::int FROM dead_letters WHERE topic LIKE %s GROUP BY reason", (mine,)
    )
    assert {r[0]: r[1] for r in by_reason} == truth.expected_dead_letters
    for sid, st in truth.stations.items():
        mm = db.execute(
            "SELECT coalesce(sum(mm), 0)::float8 FROM rain_readings WHERE station_id = %s", (sid,)
        )
        assert _float(mm.fetchone()) == pytest.approx(st.mm, abs=1e-6)
    # Duplicates and late readings never count twice in the rollups either.
    total = sum(st.mm for st in truth.stations.values())
    for table in ("rain_5min", "rain_1h"):
        query = sql.SQL("SELECT coalesce(sum(mm), 0)::float8 FROM {}").format(sql.Identifier(table))
        assert _float(db.execute(query).fetchone()) == pytest.approx(total, abs=1e-6), table


def _float(row: tuple[object, ...] | None) -> float:
    assert row is not None and isinstance(row[0], int | float)
    return float(row[0])
