"""The alert engine's heartbeat is that of its real LISTEN loop: it goes stale when a pass hangs,
while the CAP writer's, the notifier's and the exercise runner's, in the same process, stay fresh."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psycopg

from alerts.engine import _LOCK_KEY
from tests.support import Service, running, wait_for
from vigie.heartbeat import read_heartbeats

Conn = psycopg.Connection[tuple[Any, ...]]
# The loops of one `vigie alerts` process, none stalled.
FRESH = {"engine": False, "cap": False, "notifier": False, "exercises": False}


def test_a_hung_engine_pass_stalls_only_the_engine_heartbeat(
    db: Conn, database_url: str, tmp_path: Path
) -> None:
    env = {
        "VIGIE_DATABASE_URL": database_url,
        "PATH": os.environ.get("PATH", ""),
        "VIGIE_LIVENESS__REPORT_S": "0.3",
        "VIGIE_LIVENESS__STALL_S": "2",
        "VIGIE_ALERTS__SWEEP_INTERVAL_S": "3600",
    }

    def stalled() -> dict[str, bool]:
        return {b.loop: b.stalled for b in read_heartbeats(db) if b.service == "alerts"}

    with running(Service(["alerts"], env, tmp_path / "alerts.log")) as svc:
        wait_for(lambda: stalled() == FRESH, timeout=30)
        # Every pass takes the engine's advisory lock: a session holding it (a second engine
        # stuck mid-pass, say) makes the next real pass wait inside the real database.
        with psycopg.connect(database_url) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            db.execute("SELECT pg_notify('vigie_readings', 'catch up')")
            wait_for(lambda: stalled() == {**FRESH, "engine": True}, timeout=15)
            holder.rollback()
        wait_for(lambda: stalled() == FRESH, timeout=15)
        assert svc.stop(signal.SIGTERM) == 0
    assert stalled() == {}  # a clean stop leaves no heartbeat behind
