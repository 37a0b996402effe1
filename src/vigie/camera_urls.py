"""Camera stream URLs: the one check that the API (when an admin saves a camera) and the camera
worker (at each connection) both apply, and the masked form shown back to people.

A stream URL opens whatever its scheme says (FFmpeg reads file:, concat:, pipe:, data:, tcp:…
as readily as rtsp:), so the scheme must be the one of the camera's kind. Its host goes through
vigie.outbound's guard: loopback, link-local, private and metadata addresses are refused unless
the site allows them (VIGIE_OUTBOUND__ALLOW_PRIVATE, set by the demo for its simulated webcam,
or VIGIE_OUTBOUND__ALLOWED_NETWORKS for the cameras' LAN). The cloud metadata addresses stay
refused even then: no camera lives there, and they hand out credentials.

Forms that parsers read differently are refused rather than interpreted: a host written as one
number (http://2130706433/ is 127.0.0.1 to the C library), in octal or hex, with non-ASCII
letters (fullwidth digits fold to ASCII ones in IDNA), several '@', backslashes, spaces or
control characters (a CR/LF would inject a header into the RTSP or HTTP request).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from vigie.errors import VigieError
from vigie.logs import redact
from vigie.outbound import (
    IPNetwork,
    OutboundRefused,
    OutboundUnresolved,
    Resolver,
    check_host,
    system_resolver,
)

SOURCE_KINDS = ("rtsp", "mjpeg", "snapshot", "file")
# Kinds an administrator may give through the API: 'file' reads the server's own disk, so it
# stays with the command line (`vigie camera add`) and the config file.
REMOTE_KINDS = ("rtsp", "mjpeg", "snapshot")
# The URL schemes each kind may use. A 'file' source is a local path, with or without file:.
SOURCE_SCHEMES: dict[str, frozenset[str]] = {
    "rtsp": frozenset({"rtsp", "rtsps"}),
    "mjpeg": frozenset({"http", "https"}),
    "snapshot": frozenset({"http", "https"}),
    "file": frozenset({"file", ""}),
}
MAX_URL_LENGTH = 2000
_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
# A host made only of digits, dots and hex letters with an 0x: the number forms of an IPv4
# address that inet_aton() accepts (2130706433, 0x7f.1, 017700000001, 127.1).
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$", re.IGNORECASE)
# Letters, digits, '-' and '_' (not a valid DNS host name, but some camera LANs name hosts so).
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?)+$", re.IGNORECASE)
# Cloud metadata services (AWS, ECS, GCP, Azure, Oracle, Alibaba, OpenStack): refused whatever
# the site allows.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "192.0.0.192",
    )
)


class StreamUrlRefused(VigieError):
    """A camera URL that may not be used; the French message never quotes the URL's secrets."""


def guess_kind(url: str) -> str:
    """Source kind from the URL: rtsp://, http(s) (MJPEG unless it looks like a snapshot), file."""
    lower = url.lower()
    if lower.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lower.startswith(("http://", "https://")):
        path = lower.split("?", 1)[0]
        return "snapshot" if path.endswith((".jpg", ".jpeg", "/snapshot", "/snap")) else "mjpeg"
    return "file"


def scheme_problem(kind: str, url: str) -> str | None:
    """Why this URL does not fit this kind of source (French, URL not quoted), or None."""
    match = _URL_SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    allowed = SOURCE_SCHEMES.get(kind)
    if allowed is None:
        return f"type de source inconnu {kind!r}"
    if scheme not in allowed:
        shown = ", ".join(f"{s}://" if s != "file" else "file:" for s in sorted(allowed) if s)
        extra = " ou un chemin de fichier" if "" in allowed else ""
        return f"schéma '{scheme or '(aucun)'}' refusé pour une source {kind} : {shown}{extra}"
    return None


def masked(url: str) -> str:
    """The URL as people may see it: a password (or a lone token) and secret query values as ***."""
    return redact(url)


def _shape_problem(kind: str, url: str) -> str | None:
    """Why the URL's text is refused before any parsing (French), or None."""
    if not url:
        return "l'URL est vide"
    if len(url) > MAX_URL_LENGTH:
        return f"l'URL dépasse {MAX_URL_LENGTH} caractères ({len(url)})"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in url):
        return "l'URL contient un caractère de contrôle"
    if kind == "file":
        return None  # a local path may hold spaces and backslashes
    if any(c.isspace() for c in url):
        return "l'URL contient une espace (écrivez-la %20)"
    if "\\" in url:
        return "l'URL contient une barre oblique inverse (\\)"
    return None


def _host_problem(host: str) -> str | None:
    """Why a stream host is refused as written (French), or None."""
    if not host:
        return "l'URL n'indique aucun serveur"
    if not host.isascii():
        return (
            "le nom du serveur contient des caractères non ASCII : écrivez-le en ASCII"
            " (un nom accentué sous sa forme xn--…)"
        )
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return None
    if _NUMERIC_HOST.match(host):
        return "adresse IP sous une forme non standard (nombre entier, octal ou hexadécimal) : refusée"
    if not _HOST_NAME.match(host):
        return "nom de serveur invalide"
    return None


def check_stream_url(
    kind: str,
    url: str,
    *,
    allow_private: bool,
    allowed: Sequence[IPNetwork] = (),
    resolve: Resolver = system_resolver,
    resolve_names: bool = True,
    accept_unresolved: bool = True,
) -> None:
    """Raise StreamUrlRefused (French, no secret) if a camera of this kind may not open this URL.

    A name that does not resolve now is not refused (a camera may be switched off while it is
    added): the worker checks again at each connection, with accept_unresolved=False.
    resolve_names=False checks only what is written (literal addresses).
    """
    problem = _shape_problem(kind, url) or scheme_problem(kind, url)
    if problem is not None:
        raise StreamUrlRefused(problem)
    if kind == "file":
        return
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise StreamUrlRefused("l'URL est illisible (port ou adresse entre crochets invalide)") from None
    if parts.netloc.count("@") > 1:
        raise StreamUrlRefused(
            "l'URL contient plusieurs '@' : écrivez un '@' du mot de passe sous la forme %40"
        )
    problem = _host_problem(host)
    if problem is not None:
        raise StreamUrlRefused(problem)
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        mapped = literal.ipv4_mapped if isinstance(literal, ipaddress.IPv6Address) else None
        if literal in METADATA_ADDRESSES or mapped in METADATA_ADDRESSES:
            raise StreamUrlRefused("destination refusée : service de métadonnées du serveur")
    elif not resolve_names:
        return
    try:
        check_host(host, port, allow_private=allow_private, allowed=allowed, resolve=resolve)
    except OutboundRefused as exc:
        raise StreamUrlRefused(str(exc)) from None
    except OutboundUnresolved as exc:
        if not accept_unresolved:
            raise StreamUrlRefused(str(exc)) from None


__all__ = [
    "MAX_URL_LENGTH",
    "METADATA_ADDRESSES",
    "REMOTE_KINDS",
    "SOURCE_KINDS",
    "SOURCE_SCHEMES",
    "StreamUrlRefused",
    "check_stream_url",
    "guess_kind",
    "masked",
    "scheme_problem",
]
