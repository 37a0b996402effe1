"""vigie.supervise: bounded backoff that resets after a healthy run; SIGTERM during a restart
delay ends `vigie up` at once, without starting the child again."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.support import Service
from vigie.heartbeat import HeartbeatReporter
from vigie.supervise import Backoff, StallWatch

# A child that exits at once (2: a usage error), without touching anything.
FAILING = "migrate --no-such-option"


def test_backoff_doubles_up_to_its_bound() -> None:
    b = Backoff(base_s=1, max_s=8, healthy_s=60)
    assert [b.after_run(0.1) for _ in range(6)] == [1, 2, 4, 8, 8, 8]


def test_backoff_resets_after_a_healthy_run() -> None:
    b = Backoff(base_s=1, max_s=30, healthy_s=60)
    assert [b.after_run(5) for _ in range(4)] == [1, 2, 4, 8]
    assert b.after_run(59.9) == 16  # not quite healthy: keeps growing
    assert b.after_run(60) == 1  # ran a full healthy period: back to the base
    assert b.after_run(1) == 2


def _up(env: dict[str, str], tmp_path: Path, **liveness: str) -> Service:
    extra = {f"VIGIE_LIVENESS__{k.upper()}": v for k, v in liveness.items()}
    # --only with no known service: `vigie up` then supervises only the extra command.
    return Service(["up", "--only", "nothing", "--extra", FAILING], {**env, **extra}, tmp_path / "up.log")


def test_restarts_of_a_crashing_child_are_spaced_and_bounded(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    up = _up(service_env, tmp_path, backoff_base_s="0.2", backoff_max_s="0.8", healthy_run_s="60")
    up.start()
    try:
        up.wait_log("restarting in", count=5, timeout=30)
    finally:
        assert up.stop(signal.SIGTERM) == 0
    delays = [float(d) for d in re.findall(r"restarting in ([0-9.]+) s", up.log())]
    assert delays[:5] == [0.2, 0.4, 0.8, 0.8, 0.8]


def test_sigterm_during_a_restart_delay_exits_without_starting_the_child(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    up = _up(service_env, tmp_path, backoff_base_s="60")
    up.start()
    up.wait_log("restarting in 60.0 s", timeout=30)
    started = time.monotonic()
    assert up.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - started < 5  # not the 60 s of the delay
    assert up.log().count(f"starting 'vigie {FAILING}'") == 1


def test_stalls_are_judged_only_after_the_database_has_been_readable_for_a_while(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A child (any real pid of ours) whose loop has a 0.1 s limit and stopped beating.
    reporter = HeartbeatReporter(database_url, "ingest", report_s=60, host="here")
    reporter.register("writer", 0.1)
    time.sleep(0.3)
    reporter.report_once()
    watch = StallWatch(database_url, grace_s=1.0, host="here")
    try:
        assert watch.stalled([reporter.pid]) == {}  # just connected: the grace period
        time.sleep(1.1)
        found = watch.stalled([reporter.pid])
        assert [(b.service, b.loop) for b in found[reporter.pid]] == [("ingest", "writer")]
        assert watch.stalled([reporter.pid + 1]) == {}  # not one of ours
        watch.forget(reporter.pid)
        assert watch.stalled([reporter.pid]) == {}
    finally:
        watch.close()
        reporter.stop()
    # A database that cannot be reached: nothing judged, said once.
    away = StallWatch("postgresql://postgres@127.0.0.1:1/none", grace_s=0)
    assert away.stalled([reporter.pid]) == {} and away.stalled([reporter.pid]) == {}
    assert caplog.text.count("heartbeats unreadable") == 1
