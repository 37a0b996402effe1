"""Mosquitto configuration: one generator for the demo broker, the tests and docker-compose.

Security by default: no anonymous access, one account per gauge whose ACL lets it write only
its own topics, and two listeners:

- the services listener (`port`, 127.0.0.1 unless asked otherwise): service accounts, and
  gateway accounts where asked for; client ids are free, so that N ingest processes of one
  account share a subscription;
- the devices listener (`device_port`): the one the gauges reach; `use_username_as_clientid`
  binds each connection's client id to its account (username = station id), so no gauge can
  take over ingest's session or another gauge's there.

One password file and one ACL serve both listeners. Mosquitto's `per_listener_settings`, which
gave each listener its own, loses every message queued for a disconnected persistent session
from 2.0.12 on (eclipse-mosquitto #2618; Debian 13's 2.0.21 and the eclipse-mosquitto:2 image
drop the readings published while ingest restarts: tests/shared/test_broker_versions.py). So a
gauge's account also opens on the services listener, with the same rights (its own topics);
keeping that listener off the network the gauges reach is what keeps them off it
(docs/security.md).

With TLS (`vigie broker init --tls`, or the user's own certificate) both listeners speak only TLS.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vigie.broker_accounts import (
    adopt_accounts,
    hand_to_broker_user,
    new_password,
    reload_broker,
    set_password,
    write_accounts,
)
from vigie.errors import ConfigError

if TYPE_CHECKING:
    # cryptography costs every service ~0.05 CPU s at start (vigie.db imports this module for
    # read_credentials), for TLS material only `vigie broker init --tls` makes: imported there.
    from vigie.broker_tls import TlsFiles

# Service accounts and their ACL lines.
SERVICE_ACLS: dict[str, tuple[str, ...]] = {
    "vigie-ingest": (
        "topic read vigie/v1/gauges/+/up",
        "topic read vigie/v1/gauges/+/status",
        "topic read application/+/device/+/event/up",
    ),
    "vigie-alerts": ("topic readwrite vigie/v1/alerts/#",),
    "vigie-camera": ("topic readwrite vigie/v1/cameras/#",),
    "vigie-api": (
        "topic read vigie/v1/#",
        # The gauges' retained settings (docs/mqtt.md, the config topic).
        "topic write vigie/v1/gauges/+/config",
        "topic read $SYS/broker/#",
    ),
}

# Gateways publish for many devices, as a LoRaWAN network server does: write access to the
# whole device tree. That is a lot, so each exists only where asked for (`--gateway`): the
# simulator in the demo and the tests, ChirpStack on a site with LoRaWAN gauges.
GATEWAY_ACLS: dict[str, tuple[str, ...]] = {
    "vigie-simulator": (
        "topic write vigie/v1/gauges/+/up",
        "topic write vigie/v1/gauges/+/status",
    ),
    "chirpstack": ("topic write application/+/device/+/event/up",),
    # An edge broker's bridge (Bridge, below): the gauges' readings and status out to the core,
    # their retained settings back in.
    "vigie-bridge": (
        "topic write vigie/v1/gauges/+/up",
        "topic write vigie/v1/gauges/+/status",
        "topic read vigie/v1/gauges/+/config",
    ),
}

# Every account that is not a service's or a gateway's is a gauge whose username is its station
# id. Patterns apply to every account; no station may be called vigie-* or take a gateway's name
# (is_reserved_account), so a service's pattern topics name no gauge.
DEVICE_PATTERNS = (
    "pattern write vigie/v1/gauges/%u/up",
    "pattern write vigie/v1/gauges/%u/status",
    # Its retained settings, read at connect (docs/mqtt.md, the config topic).
    "pattern read vigie/v1/gauges/%u/config",
)


def is_reserved_account(name: str) -> bool:
    """True for a name a device may not take: a service's, a gateway's, or any vigie-*."""
    return name in SERVICE_ACLS or name in GATEWAY_ACLS or name.startswith("vigie-")


@dataclass(frozen=True)
class BrokerFiles:
    """Paths of a generated broker configuration."""

    directory: Path
    conf: Path
    passwd: Path
    acl: Path
    credentials: Path

    @property
    def legacy_files(self) -> tuple[Path, Path]:
        """The gauges' password file and ACL of the per-listener layout (before 2026-12-02),
        merged into `passwd` and `acl` by `vigie broker init`."""
        return self.directory / "passwd-devices", self.directory / "acl-devices"

    @property
    def pid_file(self) -> Path:
        """Where whoever starts Mosquitto writes its pid (scripts/mosquitto.sh, LocalBroker)."""
        return self.directory / "mosquitto.pid"


def broker_files(directory: Path) -> BrokerFiles:
    """The file layout of a broker directory."""
    directory = directory.resolve()
    return BrokerFiles(
        directory,
        directory / "mosquitto.conf",
        directory / "passwd",
        directory / "acl",
        directory / "credentials.env",
    )


@dataclass(frozen=True)
class Bridge:
    """An edge broker's link to the core broker, where ingest subscribes (docs/operations.md,
    "The next broker"). Gauges connect to the edge's devices listener with their own accounts
    and ACL, as to any Vigie broker; the edge forwards their topics to the core's services
    listener as the `vigie-bridge` account, QoS 1, with persistent sessions on both sides, so
    what the edge accepts while the link is down is delivered once it is back."""

    name: str  # the edge's name; the bridge's client id on the core is vigie-bridge-<name>
    host: str
    port: int
    password: str  # of the core's vigie-bridge account (its credentials.env)
    username: str = "vigie-bridge"
    cafile: Path | None = None  # the core's CA, when its services listener speaks TLS
    restart_s: int = 30  # the longest wait between two reconnection attempts


def bridge_text(bridge: Bridge) -> str:
    """The edge's bridge section of mosquitto.conf."""
    name_ok = bridge.name.isascii() and bridge.name.replace("-", "").isalnum()
    if not name_ok or not bridge.password or any(c.isspace() for c in bridge.password):
        raise ConfigError("bridge: a name of letters, digits and '-', and the core account's password")
    tls = f"bridge_cafile {bridge.cafile}\nbridge_insecure false\n" if bridge.cafile else ""
    client = f"vigie-bridge-{bridge.name}"
    return f"""# Bridge to the core broker: gauges' readings and status out, their settings in, QoS 1.
connection {client}
address {bridge.host}:{bridge.port}
{tls}remote_clientid {client}
local_clientid {client}-local
remote_username {bridge.username}
remote_password {bridge.password}
bridge_protocol_version mqttv311
# Persistent sessions: the edge queues for the link while it is down (within the queue limits
# below), the core keeps the bridge's session for its retained settings.
cleansession false
notifications false
keepalive_interval 15
restart_timeout 1 {bridge.restart_s}
topic vigie/v1/gauges/+/up out 1
topic vigie/v1/gauges/+/status out 1
topic vigie/v1/gauges/+/config in 1
"""


def _tls_lines(tls: TlsFiles | None) -> str:
    if tls is None:
        return ""
    return f"certfile {tls.server_cert}\nkeyfile {tls.server_key}\ntls_version tlsv1.2\n"


# The contract's payload limit (docs/mqtt.md) and the broker's bounds derived from it.
CONTRACT_PAYLOAD_BYTES = 64 * 1024
MAX_PACKET_BYTES = CONTRACT_PAYLOAD_BYTES + 1024
MAX_QUEUED_BYTES = 512 * 1024 * 1024


def mosquitto_conf(
    port: int,
    directory: Path,
    bind: str = "127.0.0.1",
    *,
    device_port: int | None = None,
    device_bind: str | None = None,
    tls: TlsFiles | None = None,
    bridge: Bridge | None = None,
) -> str:
    """The broker configuration text; paths are absolute so the file works from any cwd."""
    text = _conf(port, directory, bind, device_port, device_bind, tls)
    return text + bridge_text(bridge) if bridge else text


def _conf(
    port: int,
    directory: Path,
    bind: str,
    device_port: int | None,
    device_bind: str | None,
    tls: TlsFiles | None,
) -> str:
    return f"""# Generated by `vigie broker init`; edit src/vigie/broker.py instead.
# One password file and one ACL for both listeners: per_listener_settings loses the messages
# queued for a disconnected session from Mosquitto 2.0.12 on (src/vigie/broker.py).
allow_anonymous false
password_file {directory / "passwd"}
acl_file {directory / "acl"}
# Services listener: service and gateway accounts; keep it off the gauges' network.
listener {port} {bind}
{_tls_lines(tls)}# Devices listener: gauges; a connection's client id is its username, so none can take over
# another's session (ingest's included).
listener {device_port or port + 1} {device_bind or bind}
{_tls_lines(tls)}use_username_as_clientid true
# Durable sessions: readings queued for a stopped ingest survive a broker restart.
persistence true
persistence_location {directory / "data"}/
autosave_interval 5
autosave_on_changes false
persistent_client_expiration 14d
# The default of 1000 queued messages silently drops readings once a consumer is stopped for
# a few minutes. 2,000,000 covers one hour of a 500-gauge fleet reporting every second, or
# 200,000-reading benchmarks. The byte cap binds only for large messages, so that a stopped
# consumer cannot exhaust the broker's memory (2,000,000 x 64 KiB would be 131 GB): the
# arithmetic is in docs/ingest.md, "Broker limits".
max_queued_messages 2000000
max_queued_bytes {MAX_QUEUED_BYTES}
# Let MQTT 5 clients choose their Receive Maximum; ingest acks only after commit, so the
# broker must allow many unacknowledged messages in flight.
max_inflight_messages 0
# Just above the 64 KiB payload of the contract (1 KiB for topic and headers): ingest
# dead-letters what lies between; the broker refuses, and disconnects, what is bigger.
max_packet_size {MAX_PACKET_BYTES}
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
connection_messages false
"""


def acl_text(gateways: Iterable[str] = ()) -> str:
    """The broker's ACL: the gauges' patterns, service accounts, then the gateways asked for."""
    lines = ["# Generated by `vigie broker init`.", "# Gauges: username = station id, own topics only."]
    lines += [*DEVICE_PATTERNS, ""]
    rules = {**SERVICE_ACLS, **{g: GATEWAY_ACLS[g] for g in gateways}}
    for user, topics in rules.items():
        lines.append(f"user {user}")
        lines.extend(topics)
        lines.append("")
    return "\n".join(lines) + "\n"


def init_broker(
    directory: Path,
    port: int,
    *,
    devices: dict[str, str] | None = None,
    bind: str = "127.0.0.1",
    device_port: int | None = None,
    device_bind: str | None = None,
    gateways: Iterable[str] = (),
    tls: TlsFiles | None = None,
    bridge: Bridge | None = None,
) -> BrokerFiles:
    """Write conf, ACL and the password file; keep existing passwords.

    Service and gateway passwords go to `credentials.env` (mode 0600) as `account=password`
    lines, which the services read. A gateway not asked for this time loses its account. Device
    accounts live only as hashes in `passwd`, beside the services', and a rerun keeps them;
    `devices` adds or replaces some (tests, benchmarks). The gauges' files of the older
    per-listener layout (passwd-devices, acl-devices) are merged in and removed.
    """
    gateways = list(dict.fromkeys(gateways))
    unknown = [g for g in gateways if g not in GATEWAY_ACLS]
    if unknown:
        raise ConfigError(f"unknown gateway account(s) {unknown}; known: {sorted(GATEWAY_ACLS)}")
    files = broker_files(directory)
    (files.directory / "data").mkdir(parents=True, exist_ok=True)
    previous = read_credentials(files.credentials)
    known = {user: previous.get(user) or new_password() for user in [*SERVICE_ACLS, *gateways]}
    for user in devices or {}:
        if is_reserved_account(user):
            raise ConfigError(f"{user!r} is a service account name, not a device's")
    write_accounts(files.passwd, known, keep=lambda user: not is_reserved_account(user))
    legacy_passwd, legacy_acl = files.legacy_files
    if legacy_passwd.exists():
        adopt_accounts(files.passwd, legacy_passwd)
    legacy_acl.unlink(missing_ok=True)
    legacy_passwd.with_name(legacy_passwd.name + ".lock").unlink(missing_ok=True)
    for user, password in (devices or {}).items():
        set_password(files.passwd, user, password)
    text = mosquitto_conf(
        port, files.directory, bind, device_port=device_port, device_bind=device_bind, tls=tls, bridge=bridge
    )
    # With a bridge, the file holds the core account's password: the broker's to read only.
    _write_with_mode(files.conf, text, 0o600 if bridge else 0o644)
    # Not world-readable: Mosquitto 2.0.16 and later warn, and "future versions will refuse
    # to load" an ACL that is (seen with Debian 13's 2.0.21).
    _write_with_mode(files.acl, acl_text(gateways), 0o640)
    _hand_to_broker_user(files, tls)
    _write_with_mode(files.credentials, "".join(f"{u}={pw}\n" for u, pw in known.items()), 0o600)
    return files


def _write_with_mode(path: Path, text: str, mode: int) -> None:
    """Write a file with this mode: created with it (so a new file is never more readable), and
    set to it after writing (os.open keeps an existing file's mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(mode)


def _hand_to_broker_user(files: BrokerFiles, tls: TlsFiles | None) -> None:
    """Started as root, Mosquitto drops to the 'mosquitto' user, which must read the password
    file, the ACL and the TLS key and write its persistence data. credentials.env stays root's."""
    if os.geteuid() != 0:
        return
    paths = [files.directory, files.passwd, files.acl, files.conf]
    data = files.directory / "data"
    paths += [data, *data.iterdir()]
    if tls is not None and tls.server_key.is_relative_to(files.directory):
        paths.append(tls.server_key)
    for path in paths:
        hand_to_broker_user(path)
    files.directory.chmod(0o755)


def read_credentials(path: Path) -> dict[str, str]:
    """Read `user=password` lines written by init_broker; missing file gives {}."""
    if not path.exists():
        return {}
    result: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            user, _, password = line.partition("=")
            result[user.strip()] = password.strip()
    return result


@dataclass
class LocalBroker:
    """A Mosquitto process with this module's configuration, for tests, benchmarks and the demo."""

    directory: Path
    port: int
    devices: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    gateways: tuple[str, ...] = ()
    device_port: int | None = None
    # Hosts the generated server certificate names, besides localhost; None: no TLS.
    tls_hosts: list[str] | None = None
    # An edge broker: its bridge to the core (Bridge).
    bridge: Bridge | None = None
    # The Mosquitto to run: another build's path (tests/shared/test_broker_versions.py).
    binary: str = "mosquitto"

    @property
    def files(self) -> BrokerFiles:
        """The broker's file layout."""
        return broker_files(self.directory)

    @property
    def devices_port(self) -> int:
        """The devices listener's port."""
        return self.device_port or self.port + 1

    def start(self, timeout_s: float = 10.0) -> None:
        """Write the configuration and start the broker; return once it accepts connections."""
        from vigie.broker_tls import ensure_generated

        tls = None if self.tls_hosts is None else ensure_generated(self.directory, self.tls_hosts)
        files = init_broker(
            self.directory,
            self.port,
            devices=self.devices,
            device_port=self.devices_port,
            gateways=self.gateways,
            tls=tls,
            bridge=self.bridge,
        )
        with open(self.directory / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [self.binary, "-c", str(files.conf)], stdout=log, stderr=log
            )
        files.pid_file.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while not (self.accepting(self.port) and self.accepting(self.devices_port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"mosquitto did not start; see {self.directory / 'mosquitto.log'}")
            time.sleep(0.05)

    def accepting(self, port: int | None = None) -> bool:
        """True when the listener accepts TCP connections."""
        try:
            with socket.create_connection(("127.0.0.1", port or self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the broker (it saves its persistence file on the way out)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None
        self.files.pid_file.unlink(missing_ok=True)

    def password(self, user: str) -> str:
        """The password of a service account or device created here."""
        if user in self.devices:
            return self.devices[user]
        return read_credentials(self.directory / "credentials.env")[user]

    def url(self, user: str) -> str:
        """mqtt(s)://user:password@127.0.0.1:port, on the listener this account belongs to."""
        scheme = "mqtt" if self.tls_hosts is None else "mqtts"
        port = self.port if user in read_credentials(self.files.credentials) else self.devices_port
        return f"{scheme}://{user}:{self.password(user)}@127.0.0.1:{port}"

    def add_device(self, station_id: str, password: str) -> str:
        """Create a device account (username = station id), reload the broker, return its URL."""
        self.devices[station_id] = password
        set_password(self.files.passwd, station_id, password)
        if self.proc is not None:
            reload_broker(self.files.pid_file)
            time.sleep(0.3)  # mosquitto reloads the password file asynchronously
        return self.url(station_id)
