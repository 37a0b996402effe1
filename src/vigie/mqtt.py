"""MQTT client set-up shared by every service: MQTT 5, credentials from the URL, sane reconnects.

The traps this module exists to avoid (see DESIGN.md): paho's MQTT 5 default clean_start throws
the persistent session away, and paho acknowledges automatically unless manual_ack is set.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vigie.errors import ConfigError


@dataclass(frozen=True)
class BrokerAddress:
    """Where and as whom to connect; `password` is never logged (see __repr__)."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool
    # mqtts://: the CA the broker's certificate must chain to; None trusts the system's CAs.
    ca_file: Path | None = None

    def __repr__(self) -> str:
        return f"BrokerAddress({self.host}:{self.port}, user={self.username!r}, tls={self.tls})"

    def with_credentials(self, username: str, password: str) -> BrokerAddress:
        """The same broker, as another account."""
        return BrokerAddress(self.host, self.port, username, password, self.tls, self.ca_file)


def parse_mqtt_url(url: str, ca_file: Path | None = None) -> BrokerAddress:
    """Parse mqtt://user:pass@host:port or mqtts://…; raise ConfigError with a clear reason.

    With mqtts://, the broker's certificate is verified (chain to ca_file, or to the system's
    CAs, and the host name); there is no option to skip that.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError("MQTT URL must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ConfigError("MQTT URL has no host")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise ConfigError("MQTT URL has an invalid port") from exc
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=parts.scheme == "mqtts",
        ca_file=ca_file,
    )


def service_address(
    url: str, account: str, credentials_file: Path | None, ca_file: Path | None = None
) -> BrokerAddress:
    """The broker address for a service: credentials from the URL if it has some, otherwise
    the service's own account (e.g. 'vigie-ingest') from the credentials file."""
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"MQTT CA file {ca_file} does not exist")
    address = parse_mqtt_url(url, ca_file)
    if address.username is not None or credentials_file is None:
        return address
    if not credentials_file.exists():
        raise ConfigError(f"MQTT credentials file {credentials_file} does not exist")
    for line in credentials_file.read_text().splitlines():
        user, sep, password = line.partition("=")
        if sep and user.strip() == account:
            return address.with_credentials(account, password.strip())
    raise ConfigError(f"no password for MQTT account {account!r} in {credentials_file}")


def make_client(
    address: BrokerAddress,
    client_id: str,
    *,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho 2 client on MQTT 5 with credentials and TLS set; connect with connect_client()."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        # CERT_REQUIRED with paho's default host-name check: a broker that cannot show a
        # certificate for this host, from this CA, gets no password.
        client.tls_set(
            ca_certs=str(address.ca_file) if address.ca_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_client(
    client: mqtt.Client,
    address: BrokerAddress,
    *,
    session_expiry_s: int = 0,
    receive_maximum: int | None = None,
    keepalive: int = 30,
) -> None:
    """Connect (not yet looping). A session_expiry_s > 0 keeps a persistent session.

    clean_start is False exactly when a persistent session is asked for; passing it explicitly
    avoids paho's MQTT 5 default, which starts clean on the first connection.
    """
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    if session_expiry_s > 0:
        props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    client.connect(
        address.host,
        address.port,
        keepalive=keepalive,
        clean_start=session_expiry_s == 0,
        properties=props,
    )


class NetworkProbe:
    """Proves that paho's network thread still reads the socket and runs callbacks.

    probe() (from another thread) sends an UNSUBSCRIBE of a topic nobody uses; the broker
    always answers with an UNSUBACK (even when its ACL refuses the topic), and only the network
    thread reads that answer and calls on_unsubscribe, which beats. So a beat proves a round trip
    through the thread that also delivers the messages: a thread that died, or hangs in a
    callback, stops beating even though the process and its other threads run on.

    While disconnected, paho's thread sleeps between reconnection attempts (up to 30 s) and
    runs no callback at all: then the thread being alive is all it can show, and it beats on it.
    The thread is known from the callbacks it runs (seen()), not from paho's private attributes.
    """

    def __init__(self, client: mqtt.Client, topic: str, beat: Callable[[], None]) -> None:
        self.client = client
        self.topic = topic
        self.beat = beat
        self._thread: threading.Thread | None = None
        client.on_unsubscribe = self._seen
        client.on_connect_fail = self._seen

    def seen(self) -> None:
        """Called from a callback of the network thread: remember it, and beat."""
        self._thread = threading.current_thread()
        self.beat()

    def probe(self) -> None:
        """Ask the broker for an UNSUBACK; while disconnected, beat if the thread still runs."""
        if self.client.is_connected():
            self.client.unsubscribe(self.topic)
        elif self._thread is not None and self._thread.is_alive():
            self.beat()

    def _seen(self, *_args: object) -> None:
        self.seen()


def gauge_topic(root: str, station: str, kind: str = "up") -> str:
    """vigie/v1/gauges/<station>/<kind>."""
    return f"{root}/gauges/{station}/{kind}"
