"""make bench-firmware's own script (tests/firmware/mpy/case_bench.py), cut short, so a change
that stalls it shows in make test rather than as a bench that runs into its 30 min timeout."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.firmware.micropython import run_json
from tests.support import Broker

pytestmark = pytest.mark.usefixtures("micropython")


def test_the_bench_replays_what_an_outage_left_in_flash_once_the_backoff_has_passed(broker: Broker) -> None:
    # Two hours of one-minute readings with the link down end in the connection backoff (up to
    # the heartbeat). Replayed at once, _send was deferred at every call with no time passing:
    # the bench never ended. Now it sleeps through the backoff first, then empties the flash.
    station, password = f"bc-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    broker.add_device(station, password)
    data = {"start": 1795852800, "station": station, "port": broker.devices_port,
            "password": password, "rainy_mm": 5.4, "rainy_h": 4, "storm_mm": 30, "storm_h": 6,
            "variants": [], "storm": False, "replay_h": 2}  # fmt: skip
    out: dict[str, Any] = run_json("case_bench.py", data, timeout=300)
    replay = out["replay"]
    assert replay["held"] >= 110  # a reading a minute for 2 h
    assert replay["left"] == 0
    assert replay["backoff_s"] > 0  # the case that stalled: the gauge was still backing off
    # ~30 readings a message, 5 messages a call: a handful of calls, not one per reading.
    assert replay["sends"] <= replay["held"] // 30 + 2
