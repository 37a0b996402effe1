"""What one service process may hold: its own database login and broker account, nothing else.

A service's main() calls for_service(), which resolves its own credentials from the credentials
files and forgets the files. `vigie up` calls child_env() to start each service with only its own
URLs in its environment: the credentials files, the migration login and the other services'
secrets are not passed down (docs/security.md, "Database roles and secrets").
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from pydantic import SecretStr

from vigie.broker import read_credentials
from vigie.db import service_database_url
from vigie.errors import ConfigError
from vigie.grants import SERVICES, login_name
from vigie.logins import write_credentials
from vigie.mqtt import BrokerAddress, parse_mqtt_url, service_address
from vigie.settings import Settings

# The broker account of each service that logs in to the broker (the API only checks that the
# broker's port answers; the alert engine publishes nothing yet).
MQTT_ACCOUNTS: dict[str, str] = {"ingest": "vigie-ingest", "camera": "vigie-camera"}

# Environment variables that hold one service's secret; the other services never receive them.
# The residents' sign-up gateways and the inbound SMS key are the API's alone.
OWN_SECRETS: dict[str, str] = {
    "VIGIE_SIGNUP__SMS_URL": "api",
    "VIGIE_SIGNUP__EMAIL_URL": "api",
    "VIGIE_SIGNUP__INBOUND_TOKEN": "api",
    "VIGIE_API__READ_DATABASE_URL": "api",
}

# Never passed to a service by `vigie up`: they would let it read every other service's password.
CREDENTIAL_FILES = ("VIGIE_DATABASE_CREDENTIALS_FILE", "VIGIE_MQTT_CREDENTIALS_FILE")


def mqtt_url(address: BrokerAddress) -> str:
    """The mqtt:// or mqtts:// URL of an address, credentials included."""
    scheme = "mqtts" if address.tls else "mqtt"
    user = ""
    if address.username is not None:
        user = quote(address.username, safe="")
        if address.password is not None:
            user += ":" + quote(address.password, safe="")
        user += "@"
    return f"{scheme}://{user}{address.host}:{address.port}"


def for_service(settings: Settings, service: str) -> Settings:
    """The settings a service runs with: URLs carrying its own credentials, no credentials files."""
    update: dict[str, object] = {
        "database_url": SecretStr(service_database_url(settings, service)),
        "database_credentials_file": None,
        "mqtt_credentials_file": None,
    }
    account = MQTT_ACCOUNTS.get(service)
    url = settings.mqtt_url.get_secret_value()
    if account is not None:
        address = service_address(url, account, settings.mqtt_credentials_file)
    else:
        # Where the broker is, without anyone's password.
        bare = parse_mqtt_url(url)
        address = BrokerAddress(bare.host, bare.port, None, None, bare.tls)
    update["mqtt_url"] = SecretStr(mqtt_url(address))
    read = settings.api.read_database_url
    if service == "api" and read is not None:
        own_read = service_database_url(settings, service, read.get_secret_value())
        update["api"] = settings.api.model_copy(update={"read_database_url": SecretStr(own_read)})
    return settings.model_copy(update=update)


def child_env(settings: Settings, service: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(variables to set, variables to remove) for a service started by `vigie up`."""
    own = for_service(settings, service)
    env = {
        "VIGIE_DATABASE_URL": own.database_url.get_secret_value(),
        "VIGIE_MQTT_URL": own.mqtt_url.get_secret_value(),
    }
    if own.api.read_database_url is not None and service == "api":
        env["VIGIE_API__READ_DATABASE_URL"] = own.api.read_database_url.get_secret_value()
    unset = CREDENTIAL_FILES + tuple(k for k, owner in OWN_SECRETS.items() if owner != service)
    return env, unset


def split_credentials(settings: Settings, out_dir: Path, owner_uid: int | None = None) -> list[Path]:
    """Write each service's own credentials to out_dir/<service>/ (database.env, and mqtt.env for
    a service with a broker account), mode 0600, owned by owner_uid if given: docker-compose
    mounts one such directory into each service's container, and nothing else of the secrets."""
    written: list[Path] = []
    database, broker = (
        read_credentials(path) if path else {}
        for path in (settings.database_credentials_file, settings.mqtt_credentials_file)
    )
    for service in SERVICES:
        files = {"database.env": (login_name(settings.database_login_prefix, service), database)}
        account = MQTT_ACCOUNTS.get(service)
        if account is not None:
            files["mqtt.env"] = (account, broker)
        for filename, (user, source) in files.items():
            if user not in source:
                raise ConfigError(f"no password for {user!r} to give the {service} service")
            path = out_dir / service / filename
            write_credentials(path, {user: source[user]})
            if owner_uid is not None:
                os.chown(path, owner_uid, -1)
                os.chown(path.parent, owner_uid, -1)
            path.parent.chmod(0o700)
            written.append(path)
    return written


def write_env_files(settings: Settings, out_dir: Path) -> list[Path]:
    """Write out_dir/<service>.env (mode 0600): VIGIE_DATABASE_URL and VIGIE_MQTT_URL with that
    service's own credentials, the EnvironmentFile that each systemd unit of deploy/ reads."""
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        env, _ = child_env(settings, service)
        path = out_dir / f"{service}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"# {service}'s own credentials (vigie secrets split --env-files)\n")
            for key, value in env.items():
                out.write(f"{key}={value}\n")
        path.chmod(0o600)
        written.append(path)
    return written
