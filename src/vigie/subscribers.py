"""Subscribers as written by an administrator, and the masked form of their channels.

A channel URL is an Apprise URL that carries credentials (mailto://user:password@host,
smseagle://token@host/...): it is a SECRET. It is checked here, stored as given, and only ever
shown masked (scheme and host). Whether communes and catchments exist is checked by the caller
against the database. Pure: no database, no I/O.
"""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

ChannelKind = Literal["email", "sms", "webhook"]
INSEE = Annotated[str, StringConstraints(pattern=r"^60[0-9]{3}$")]
CATCHMENT_ID = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
MAX_CHANNELS = 10
MAX_URL = 2000

# Apprise schemes that can plausibly carry each kind of message. A URL of another kind (e.g. an
# SMS gateway under 'email') would send the warning where nobody expects it.
# The notifier (src/alerts/channels.py) checks against this same table before each send.
SCHEMES: dict[str, frozenset[str]] = {
    "email": frozenset({"mailto", "mailtos"}),
    "sms": frozenset(
        {
            "smseagle",
            "smseagles",
            "twilio",
            "vonage",
            "nexmo",
            "freemobile",
            "sfr",
            "octopush",
            "clicksend",
            "bulksms",
            "d7sms",
            "sns",
            "plivo",
            "sinch",
            "msgbird",
            "smsmgr",
            "smsmanager",
            "infobip",
            "httpsms",
            "46elks",
            "elks",
            "seven",
            "clickatell",
            "telnyx",
        }
    ),
    "webhook": frozenset({"json", "jsons", "form", "forms", "xml", "xmls"}),
}
# Schemes whose URL names the server the notifier connects to (the SMTP server, an SMSEagle
# box, a webhook): vigie.outbound checks it before each send. The other SMS schemes reach their
# provider's fixed public API; what sits in their URL's host is an account id or a number.
SERVER_IN_URL: frozenset[str] = frozenset(
    {"mailto", "mailtos", "smseagle", "smseagles", "json", "jsons", "form", "forms", "xml", "xmls"}
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]{0,31})://", re.IGNORECASE)
# A host worth showing: a DNS name or an IPv4 address. Several services put a token where the
# host would be (slack://TokenA/…, tgram://bot-token/…); those are never shown.
_SHOWN_HOST = re.compile(
    r"^(localhost|(\d{1,3}\.){3}\d{1,3}|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})$"
)


@cache
def _zones() -> frozenset[str]:
    # Scanning the zone database takes milliseconds: once per process is enough.
    return frozenset(available_timezones())


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


class Channel(BaseModel):
    """One way to reach a subscriber: its kind and its Apprise URL (a secret)."""

    # hide_input_in_errors: pydantic's error text quotes the input (here the URL with its
    # credentials) and error text ends up in logs (found by tests/fuzz/test_fuzz_validators.py).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: ChannelKind
    url: str = Field(min_length=8, max_length=MAX_URL, repr=False)

    @model_validator(mode="after")
    def _scheme_fits_kind(self) -> Channel:
        # Reasons never quote the URL: it is a secret, and error messages end up in logs.
        if _has_control(self.url) or any(c.isspace() for c in self.url):
            raise ValueError("l'URL du canal contient des espaces ou des caractères de contrôle")
        match = _SCHEME.match(self.url)
        if match is None:
            raise ValueError("l'URL du canal doit commencer par un schéma Apprise (ex. mailtos://)")
        scheme = match.group(1).lower()
        allowed = SCHEMES[self.kind]
        if scheme not in allowed:
            raise ValueError(
                f"le schéma '{scheme}' ne convient pas à un canal {self.kind} ; schémas possibles : "
                + ", ".join(sorted(allowed))
            )
        if len(self.url) <= len(match.group(0)):
            raise ValueError("l'URL du canal est vide après le schéma")
        return self


class SubscriberIn(BaseModel):
    """A subscriber as written by an administrator (API)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)  # its channels

    name: str = Field(min_length=1, max_length=200)
    communes: list[INSEE] = Field(default_factory=list, max_length=64)
    catchments: list[CATCHMENT_ID] = Field(default_factory=list, max_length=64)
    min_level: Literal["yellow", "orange", "red"] = "yellow"
    channels: list[Channel] = Field(default_factory=list, max_length=MAX_CHANNELS)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = Field(default="Europe/Paris", min_length=1, max_length=64)
    audience: Literal["public", "technicians"] = "public"
    active: bool = True
    # Receives the PCS exercises (marked EXERCICE); nobody does without asking.
    exercises: bool = False

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if _has_control(name) or not name.strip():
            raise ValueError("le nom ne doit pas être vide ni contenir de caractères de contrôle")
        return name.strip()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        # available_timezones() first: ZoneInfo() would also accept file paths such as '../x'.
        if zone not in _zones():
            raise ValueError("fuseau horaire inconnu (nom IANA attendu, ex. Europe/Paris)")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("fuseau horaire inconnu (nom IANA attendu, ex. Europe/Paris)") from exc
        return zone

    @model_validator(mode="after")
    def _quiet_hours(self) -> SubscriberIn:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet_start et quiet_end vont ensemble : donnez les deux ou aucun")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValueError("quiet_start et quiet_end sont égaux : plage silencieuse vide")
        for t in (self.quiet_start, self.quiet_end):
            if t is not None and t.tzinfo is not None:
                raise ValueError("les heures silencieuses sont locales : pas de fuseau (HH:MM)")
        if len(set(self.communes)) != len(self.communes):
            raise ValueError("communes : code INSEE en double")
        if len(set(self.catchments)) != len(self.catchments):
            raise ValueError("catchments : bassin en double")
        return self


def mask_url(url: str) -> str:
    """scheme://host with credentials, path and query removed; the host only if it is a name."""
    match = _SCHEME.match(url)
    if match is None:
        return "***"
    scheme = match.group(1).lower()
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    shown = host if _SHOWN_HOST.match(host) else "***"
    return f"{scheme}://{shown}/***"


def masked_channels(raw: object) -> list[dict[str, str]]:
    """The stored channels as the API shows them: kind and masked URL, never the URL."""
    out: list[dict[str, str]] = []
    if not isinstance(raw, list):
        return out
    for ch in raw:
        if isinstance(ch, dict):
            out.append({"kind": str(ch.get("kind", "")), "url": mask_url(str(ch.get("url", "")))})
    return out


def recipient_hint(kind: str, url: str) -> str:
    """Who a channel reaches, masked for a printed log: '+33 6•• •• •• 01', 'c•••@example.org'.

    Enough for the mayor to recognise a recipient on the proof of warning, not enough to copy a
    resident's number or address from it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "•••"
    if kind == "sms":
        digits = re.sub(r"\D", "", unquote(parts.path.rsplit("/", 1)[-1]))
        if len(digits) < 6:
            return "•••"
        return f"+{digits[:3]}•••••{digits[-2:]}" if digits.startswith("33") else f"•••{digits[-2:]}"
    if kind == "email":
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        to = unquote(query.get("to", "")).split(",")[0]
        local, _, domain = to.partition("@")
        return f"{local[:1]}•••@{domain}" if local and domain else "•••"
    return mask_url(url)
