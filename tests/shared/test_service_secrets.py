"""Each service receives its own database login and broker account, and nobody else's."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import psycopg.conninfo
import pytest
from pydantic import SecretStr

from vigie.db import service_database_url, with_login
from vigie.errors import ConfigError
from vigie.logins import write_credentials
from vigie.service_secrets import (
    CREDENTIAL_FILES,
    child_env,
    for_service,
    split_credentials,
    write_env_files,
)
from vigie.settings import Settings

DB = {f"vigie_login_{s}": f"db-{s}-pw/with@odd:chars" for s in ("ingest", "alerts", "camera", "api")}
MQTT = {"vigie-ingest": "mq-ingest", "vigie-camera": "mq-camera", "vigie-api": "mq-api",
        "vigie-alerts": "mq-alerts", "vigie-simulator": "mq-sim"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    write_credentials(tmp_path / "db.env", DB)
    write_credentials(tmp_path / "mqtt.env", MQTT)
    return Settings(
        database_url=SecretStr("postgresql://postgres:admin-pw@db.example:5432/vigie?sslmode=prefer"),
        database_credentials_file=tmp_path / "db.env",
        mqtt_url=SecretStr("mqtt://broker.example:1883"),
        mqtt_credentials_file=tmp_path / "mqtt.env",
    )


def _secrets_in(text: str) -> set[str]:
    return {p for p in [*DB.values(), *MQTT.values(), "admin-pw"] if p in text}


@pytest.mark.parametrize("service", ["ingest", "alerts", "camera", "api"])
def test_child_env_holds_only_the_services_own_secrets(settings: Settings, service: str) -> None:
    env, unset = child_env(settings, service)
    own = {DB[f"vigie_login_{service}"]}
    if service in ("ingest", "camera"):
        own.add(MQTT[f"vigie-{service}"])
    # URL-quoted in the env: compare on the decoded URL.
    assert _secrets_in(unquote(" ".join(env.values()))) == own
    assert set(CREDENTIAL_FILES) <= set(unset)
    assert ("VIGIE_SIGNUP__INBOUND_TOKEN" in unset) == (service != "api")
    assert env["VIGIE_DATABASE_URL"].startswith(f"postgresql://vigie_login_{service}:")
    assert env["VIGIE_DATABASE_URL"].endswith("@db.example:5432/vigie?sslmode=prefer")


def test_for_service_forgets_the_files_and_the_url_decodes_back(settings: Settings) -> None:
    own = for_service(settings, "ingest")
    assert own.database_credentials_file is None and own.mqtt_credentials_file is None
    info = psycopg.conninfo.conninfo_to_dict(own.database_url.get_secret_value())
    assert info["user"] == "vigie_login_ingest"
    assert info["password"] == DB["vigie_login_ingest"]
    assert info["host"] == "db.example" and info["dbname"] == "vigie"
    assert own.mqtt_url.get_secret_value() == "mqtt://vigie-ingest:mq-ingest@broker.example:1883"
    # Resolving again (a child of `vigie up` does) changes nothing.
    assert for_service(own, "ingest") == own


def test_services_without_a_broker_account_get_no_broker_password(settings: Settings) -> None:
    with_password = settings.model_copy(update={"mqtt_url": SecretStr("mqtt://someone:pw@broker.example:1883")})
    assert for_service(with_password, "api").mqtt_url.get_secret_value() == "mqtt://broker.example:1883"


def test_without_a_credentials_file_the_url_is_used_as_it_is(settings: Settings) -> None:
    bare = settings.model_copy(update={"database_credentials_file": None})
    assert service_database_url(bare, "api") == settings.database_url.get_secret_value()


def test_missing_file_or_login_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    gone = settings.model_copy(update={"database_credentials_file": tmp_path / "nope.env"})
    with pytest.raises(ConfigError, match="does not exist"):
        service_database_url(gone, "ingest")
    write_credentials(tmp_path / "partial.env", {"vigie_login_api": "x"})
    partial = settings.model_copy(update={"database_credentials_file": tmp_path / "partial.env"})
    with pytest.raises(ConfigError, match="no password for database login 'vigie_login_ingest'"):
        service_database_url(partial, "ingest")


def test_with_login_keeps_key_value_conninfo_working() -> None:
    url = with_login("host=127.0.0.1 port=5432 dbname=vigie user=postgres", "vigie_login_api", "p w")
    info = psycopg.conninfo.conninfo_to_dict(url)
    assert (info["user"], info["password"], info["dbname"]) == ("vigie_login_api", "p w", "vigie")


def test_split_gives_each_service_a_directory_of_its_own(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "per-service"
    written = split_credentials(settings, out)
    assert len(written) == 6  # four database logins, two broker accounts
    for service in ("ingest", "alerts", "camera", "api"):
        directory = out / service
        assert oct(directory.stat().st_mode & 0o777) == "0o700"
        text = "".join(p.read_text() for p in directory.iterdir())
        expected = {DB[f"vigie_login_{service}"]}
        if service in ("ingest", "camera"):
            expected.add(MQTT[f"vigie-{service}"])
        assert _secrets_in(text) == expected
        for path in directory.iterdir():
            assert oct(path.stat().st_mode & 0o777) == "0o600"
    # A container given only its directory finds its own login there.
    ingest = settings.model_copy(update={"database_credentials_file": out / "ingest" / "database.env",
                                         "mqtt_credentials_file": out / "ingest" / "mqtt.env"})
    assert DB["vigie_login_ingest"].replace("/", "%2F").replace("@", "%40").replace(":", "%3A") in (
        for_service(ingest, "ingest").database_url.get_secret_value()
    )


def test_env_files_for_systemd_hold_one_service_each(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "etc-vigie"
    write_env_files(settings, out)
    for service in ("ingest", "alerts", "camera", "api"):
        path = out / f"{service}.env"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        lines = dict(
            line.split("=", 1) for line in path.read_text().splitlines() if not line.startswith("#")
        )
        assert set(lines) == {"VIGIE_DATABASE_URL", "VIGIE_MQTT_URL"}
        expected = {DB[f"vigie_login_{service}"]}
        if service in ("ingest", "camera"):
            expected.add(MQTT[f"vigie-{service}"])
        assert _secrets_in(unquote(path.read_text())) == expected


def test_the_apis_read_replica_url_gets_the_apis_login_and_no_one_else_sees_it(settings: Settings) -> None:
    from vigie.settings import ApiSettings

    replica = settings.model_copy(
        update={"api": ApiSettings(read_database_url=SecretStr("postgresql://replica.example:5433/vigie"))}
    )
    env, _ = child_env(replica, "api")
    info = psycopg.conninfo.conninfo_to_dict(env["VIGIE_API__READ_DATABASE_URL"])
    assert (info["user"], info["password"]) == ("vigie_login_api", DB["vigie_login_api"])
    assert info["host"] == "replica.example" and info["port"] == "5433"
    own = for_service(replica, "api")
    assert own.api.read_database_url == SecretStr(env["VIGIE_API__READ_DATABASE_URL"])
    assert for_service(own, "api") == own
    for service in ("ingest", "alerts", "camera"):
        env, unset = child_env(replica, service)
        assert "VIGIE_API__READ_DATABASE_URL" not in env and "VIGIE_API__READ_DATABASE_URL" in unset
    # Without a replica the API reads where it writes (its read pool is the primary's).
    assert "VIGIE_API__READ_DATABASE_URL" not in child_env(settings, "api")[0]
