"""`vigie up` runs the services as processes; the API answers on its port and ingest subscribes."""

from __future__ import annotations

import signal

import httpx

from tests.support import Broker, Service, free_port, running, wait_for


def test_up_runs_ingest_and_api_and_stops_cleanly(
    service_env: dict[str, str], broker: Broker, tmp_path: object
) -> None:
    from pathlib import Path

    port = free_port()
    env = {
        **service_env,
        # No user in the URL: each service takes its own account from the credentials file.
        "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "VIGIE_MQTT_CREDENTIALS_FILE": str(broker.directory / "credentials.env"),
        "VIGIE_API__PORT": str(port),
        "VIGIE_INGEST__CLIENT_ID": f"up-{port}",
    }
    up = Service(["up", "--only", "ingest", "--only", "api"], env, Path(str(tmp_path)) / "up.log")
    with running(up):
        up.wait_log("subscribed to")

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=30)
        assert up.stop(signal.SIGTERM) == 0
    assert "connected to the broker as vigie-ingest" in up.log()
