"""The one guard for connections to addresses an administrator wrote (webhooks, SMTP and SMS
servers, camera streams): loopback, link-local (169.254.169.254, the cloud metadata service,
among them), private, unique-local and other non-global addresses are refused unless the site
allows them (VIGIE_OUTBOUND__ALLOW_PRIVATE, set by the demo for its local sinks and webcam).

Without it, an admin account, or whoever steals one, could make the server probe or call what
only the server can reach: the database, the broker, a router's admin page, the metadata service.

A name is resolved and every address it resolves to is checked: a name with one public and one
private address is refused. The connection itself resolves again, so a DNS server that answers
differently the second time (rebinding) is not stopped here: docs/security.md, known limits.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from vigie.errors import VigieError

Resolver = Callable[[str, int | None], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Shown to the admin; says what is refused, never what answered.
REFUSED = "destination refusée : adresse interne (boucle locale, lien local ou réseau privé)"


class OutboundRefused(VigieError):
    """The destination is not allowed; the message is French and names no secret."""


class OutboundUnresolved(VigieError):
    """The destination's name does not resolve (now): a reason to retry, not to refuse."""


def system_resolver(host: str, port: int | None) -> list[str]:
    """Every address the system resolver gives for host."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_internal(address: IPAddress) -> bool:
    """True for any address that is not globally routable (or is multicast)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_internal(mapped)
    return not address.is_global or address.is_multicast or address.is_unspecified


def check_host(
    host: str,
    port: int | None = None,
    *,
    allow_private: bool,
    allowed: Sequence[IPNetwork] = (),
    resolve: Resolver = system_resolver,
) -> None:
    """Raise OutboundRefused if host is, or resolves to, an internal address outside `allowed`.

    `allowed` (VIGIE_OUTBOUND__ALLOWED_NETWORKS) lets a site name its camera network without
    opening every internal address. With allow_private, nothing is checked (or resolved).
    """
    if allow_private:
        return
    host = host.strip("[]")
    if not host:
        raise OutboundRefused("destination refusée : aucun serveur indiqué")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise OutboundUnresolved("destination injoignable : nom de serveur introuvable") from exc
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                raise OutboundRefused(REFUSED) from None
        if not addresses:
            raise OutboundUnresolved("destination injoignable : nom de serveur introuvable")
    if any(is_internal(a) and not any(a in net for net in allowed) for a in addresses):
        raise OutboundRefused(REFUSED)


def check_url(
    url: str,
    *,
    allow_private: bool,
    allowed: Sequence[IPNetwork] = (),
    resolve: Resolver = system_resolver,
) -> None:
    """check_host() on the host of an ordinary URL (http, https, rtsp, rtsps)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError as exc:
        raise OutboundRefused("destination refusée : adresse illisible") from exc
    check_host(host, port, allow_private=allow_private, allowed=allowed, resolve=resolve)
