"""The database going away in the middle of a request: a French 503 the client can retry, not a
500 with a traceback (seen in make chaos when the server restarted under the API's load)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support import wait_for


def test_request_whose_connection_is_terminated_answers_503_in_french(
    client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer: dict[str, Any] = {}
    # Two sessions: inside a transaction pg_stat_activity is a snapshot, so the watcher is apart.
    with (
        psycopg.connect(database_url, autocommit=True) as admin,
        psycopg.connect(database_url, autocommit=True) as watcher,
    ):
        # The feed's query waits on this lock, so its backend is there to be ended mid-request.
        with admin.transaction():
            admin.execute("LOCK TABLE cap_messages IN ACCESS EXCLUSIVE MODE")

            def ask() -> None:
                answer["r"] = client.get("/api/v1/alerts/cap.atom")

            t = threading.Thread(target=ask)
            t.start()

            def waiting_backend() -> int | None:
                row = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'vigie-api'"
                    " AND wait_event_type = 'Lock' AND datname = current_database()"
                ).fetchone()
                return int(row[0]) if row else None

            pid = wait_for(waiting_backend, timeout=10)
            watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
            t.join(timeout=10)
    r: httpx.Response = answer["r"]
    assert r.status_code == 503
    assert r.json() == {
        "detail": "base de données momentanément indisponible : réessayez dans quelques secondes"
    }
    assert r.headers["Retry-After"] == "5"
    assert "Traceback" not in caplog.text
    # The next request gets a checked connection: served again.
    assert client.get("/api/v1/alerts/cap.atom").status_code == 200
