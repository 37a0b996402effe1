"""docker-compose.yml stays true to the secrets rule (no Docker engine here to run it): each
service container runs as the image's unprivileged user and sees only its own credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML, installed with pydantic-settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "api", "alerts", "camera")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = data["services"]
    return services


def test_each_service_container_mounts_only_its_own_secrets() -> None:
    services = _compose()
    for name in SERVICES:
        svc = services[name]
        volumes = [str(v).split(":")[0] for v in svc.get("volumes", [])]
        assert f"secrets-{name}" in volumes, name
        # Neither the broker's credentials.env nor another service's secrets, nor the full file.
        assert "broker" not in volumes and "db-credentials" not in volumes, name
        assert not [v for v in volumes if v.startswith("secrets-") and v != f"secrets-{name}"], name


def test_each_service_container_runs_as_the_unprivileged_user() -> None:
    services = _compose()
    for name in SERVICES:
        assert services[name].get("user") == "vigie", name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "useradd --system --uid 10001" in dockerfile
    assert dockerfile.strip().splitlines()[-2] == "USER vigie"


def test_no_password_in_a_service_containers_environment() -> None:
    services = _compose()
    for name in SERVICES:
        env = {str(k): str(v) for k, v in services[name]["environment"].items()}
        assert "@" not in env["VIGIE_DATABASE_URL"] and "@" not in env["VIGIE_MQTT_URL"], name
        assert env["VIGIE_DATABASE_CREDENTIALS_FILE"] == "/run/vigie/database.env"
        assert ("VIGIE_SIGNUP__INBOUND_TOKEN" in env) == (name == "api"), name
    # Only the one-shot init container holds the migration login and every password.
    init = services["db-init"]
    assert "vigie secrets split /secrets --owner 10001" in " ".join(init["entrypoint"])
    for name in SERVICES:
        assert services[name]["depends_on"]["db-init"] == {"condition": "service_completed_successfully"}
