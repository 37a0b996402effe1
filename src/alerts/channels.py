"""Send one message on one subscriber channel through Apprise: e-mail, SMS or webhook.

A channel URL is a SECRET (SMTP password, SMS provider token, phone number): it is never logged,
never put in an exception and never written to delivery_attempts. Apprise itself logs recipients
at INFO and, for some plugins, the rejected token at WARNING ("An invalid … Access Token (…)"),
so its logger is detached from the root handlers (propagate = False): its records only reach a
per-thread capture, from which we keep an HTTP status code and nothing else.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import apprise
from apprise.manager_plugins import NotificationManager

from vigie.logs import redact
from vigie.outbound import IPNetwork, OutboundRefused, OutboundUnresolved, check_host
from vigie.subscribers import SCHEMES, SERVER_IN_URL

log = logging.getLogger(__name__)

# One list of the Apprise schemes each kind may use, shared with the API that validates them.
CHANNEL_KINDS = frozenset(SCHEMES)
_HTTP_CODE = re.compile(r"error=(\d{3})|HTTP[ /:=]*(?:error )?(\d{3})", re.I)
_CONNECTION = re.compile(r"connection|connect|timed out|timeout|refused|unreachable", re.I)


class Outcome(StrEnum):
    """What the provider said: accepted, refused for good (bad address), or try again."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    RETRY = "retry"


@dataclass(frozen=True)
class SendResult:
    """The outcome and a short French detail that never contains the URL or a secret."""

    outcome: Outcome
    detail: str


class _ThreadCapture(logging.Handler):
    """Collects Apprise's records of the calling thread only, while a send is in progress."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._local = threading.local()

    def begin(self) -> None:
        self._local.records = []

    def end(self) -> list[str]:
        records: list[str] = getattr(self._local, "records", None) or []
        self._local.records = None
        return records

    def emit(self, record: logging.LogRecord) -> None:
        buf = getattr(self._local, "records", None)
        if buf is not None and len(buf) < 50:
            try:
                buf.append(record.getMessage())
            except Exception:  # noqa: BLE001  # a malformed record must not break a send
                buf.append("")


def install_log_guard() -> _ThreadCapture:
    """Detach Apprise (and urllib3, whose DEBUG lines hold request paths) from the root handlers.

    Idempotent: the capture handler is installed once per process and reused.
    """
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = False
    apprise_log.setLevel(logging.WARNING)
    for h in apprise_log.handlers:
        if isinstance(h, _ThreadCapture):
            return h
    capture = _ThreadCapture()
    apprise_log.addHandler(capture)
    # Some providers carry credentials in the query string, which urllib3 logs at DEBUG.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return capture


def load_plugins() -> None:
    """Import every Apprise plugin now, once, with its DeprecationWarning silenced.

    Apprise imports its plugins lazily on first use, and its e-mail plugin imports the
    deprecated imghdr module: under warnings-as-errors that first import would fail and leave
    mailto:// unknown. Loading them at start-up, single-threaded, avoids both surprises.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        NotificationManager().load_modules()  # type: ignore[no-untyped-call]


def scheme_of(url: object) -> str | None:
    """The lower-case scheme of a URL-ish string, or None."""
    if not isinstance(url, str) or "://" not in url or len(url) > 4096:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return scheme or None


def check_channel(kind: object, url: object) -> str | None:
    """Why this channel can never work (French, secret-free), or None when it looks right."""
    if kind not in CHANNEL_KINDS:
        return "type de canal inconnu"
    scheme = scheme_of(url)
    if scheme is None:
        return "adresse de canal absente ou illisible"
    if kind == "email" and scheme not in SCHEMES["email"]:
        return f"adresse e-mail invalide : schéma {scheme}:// non accepté (mailto:// ou mailtos://)"
    if kind == "webhook" and scheme not in SCHEMES["webhook"]:
        return f"webhook invalide : schéma {scheme}:// non accepté (json://, form://, xml://)"
    if kind == "sms" and scheme not in SCHEMES["sms"]:
        return f"adresse SMS invalide : {scheme}:// n'est pas un fournisseur SMS connu"
    return None


def _failure_detail(records: list[str]) -> str:
    """A safe summary of what Apprise logged: an HTTP code or 'connection', never the text."""
    for text in records:
        m = _HTTP_CODE.search(text)
        code = (m.group(1) or m.group(2)) if m else None
        if code is not None and not code.startswith("2"):
            return f"refusé par le fournisseur (HTTP {code})"
        if code is not None:
            return "réponse d'erreur du fournisseur"
    if any(_CONNECTION.search(t) for t in records):
        return "serveur injoignable (connexion impossible ou délai dépassé)"
    return "échec d'envoi signalé par le fournisseur"


class ChannelSender:
    """Sends through Apprise with per-send timeouts; safe to call from many threads."""

    def __init__(
        self,
        timeout_s: float = 15.0,
        *,
        allow_private: bool = False,
        allowed_networks: Sequence[IPNetwork] = (),
    ) -> None:
        self.timeout_s = timeout_s
        # vigie.outbound: internal destinations only where the site allows them (the demo).
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        self._capture = install_log_guard()
        load_plugins()
        self._asset = apprise.AppriseAsset(secure_logging=True)

    def _plugin(self, url: str) -> Any:
        plugin = apprise.Apprise.instantiate(url, asset=self._asset, suppress_exceptions=True)
        if plugin is None:
            return None
        # Our own retries (delivery_attempts) replace Apprise's: exactly one try per attempt.
        plugin.retry = 0
        # A webhook must not redirect the notifier to where vigie.outbound would refuse to go
        # (a public URL answering 307 to 169.254.169.254): whatever the URL's ?redirect= says.
        plugin.redirects = False
        plugin.socket_connect_timeout = self.timeout_s
        plugin.socket_read_timeout = self.timeout_s
        # Plain text as written: our e-mail carries a fixed-width rain table.
        plugin.notify_format = apprise.NotifyFormat.TEXT
        return plugin

    def send(self, kind: str, url: object, subject: str | None, body: str) -> SendResult:
        """Send one message; the result's detail is safe to store and to show."""
        problem = check_channel(kind, url)
        if problem is not None:
            return SendResult(Outcome.REFUSED, problem)
        assert isinstance(url, str)
        self._capture.begin()
        try:
            sent = self._notify(url, subject, body)
        finally:
            records = self._capture.end()
        if isinstance(sent, SendResult):
            return sent
        if sent:
            return SendResult(Outcome.ACCEPTED, "accepté par le fournisseur")
        return SendResult(Outcome.RETRY, _failure_detail(records))

    def _notify(self, url: str, subject: str | None, body: str) -> bool | SendResult:
        try:
            plugin = self._plugin(url)
        except Exception:  # noqa: BLE001  # an exception text may quote the URL
            plugin = None
        if plugin is None:
            return SendResult(
                Outcome.REFUSED,
                "adresse de canal invalide : refusée par Apprise (schéma inconnu, jeton ou "
                "destinataire manquant)",
            )
        refused = self._check_destination(url, plugin)
        if refused is not None:
            return refused
        try:
            return bool(plugin.notify(body=body, title=subject or "", body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # noqa: BLE001  # name the type only, never the message
            return SendResult(Outcome.RETRY, f"erreur inattendue ({type(exc).__name__})")

    def _check_destination(self, url: str, plugin: Any) -> SendResult | None:
        """Refuse an internal server before connecting (vigie.outbound).

        The host is read from the plugin Apprise built, not parsed again here: it is where
        Apprise will connect (an e-mail's smtp= server included), whatever the URL's quirks.
        """
        scheme = scheme_of(url)
        if scheme not in SERVER_IN_URL:
            return None
        host = getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None)
        port = getattr(plugin, "port", None)
        try:
            port_n = port if isinstance(port, int) else None
            check_host(
                str(host or ""), port_n, allow_private=self.allow_private, allowed=self.allowed_networks
            )
        except OutboundRefused as exc:
            log.warning("envoi refusé vers %s://%s : %s", scheme, redact(str(host)), exc)
            return SendResult(Outcome.REFUSED, str(exc))
        except OutboundUnresolved as exc:
            return SendResult(Outcome.RETRY, str(exc))
        return None
