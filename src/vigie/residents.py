"""Residents who sign themselves up: what the public form may send, and how addresses, codes and
tokens are made. Pure: no database, no I/O.

Accepted addresses (docs/signup.md): French mobile numbers only (06 and 07, written 06 12 34 56
78, 06.12.34.56.78, +33 6 12 34 56 78 or 0033…), stored as E.164 (+336…); the SMS gateway is a
French line, and a foreign or fixed number is either unreachable or a way to spend the
community's SMS. E-mail addresses: one @, no spaces or control characters, at most 254
characters, a dotted domain, a local part of letters, digits and . _ % + - only (what people
use; anything else would go into a mailto URL); stored lower-cased.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

INSEE = Annotated[str, StringConstraints(pattern=r"^60[0-9]{3}$")]
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{32,64}$"  # noqa: S105  # a pattern, not a secret
CONSENT_TEXT = (
    "J'accepte que la Communauté de communes des Deux Vallées conserve mon numéro ou mon adresse "
    "pour m'envoyer les alertes pluie et inondation de ma commune, jusqu'à ma désinscription "
    "(répondre STOP ou suivre le lien de chaque message)."
)
_SEPARATORS = re.compile(r"[\s.\-()]")
_FR_MOBILE = re.compile(r"^(?:\+33|0033|0)([67][0-9]{8})$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
STOP_WORDS = frozenset({"STOP", "ARRET", "ARRÊT", "DESINSCRIPTION", "DÉSINSCRIPTION"})
ERASE_WORDS = frozenset({"SUPPRIMER", "EFFACER"})


def normalise_phone(raw: str) -> str:
    """+33XXXXXXXXX for a French mobile number; ValueError (French) otherwise."""
    if len(raw) > 40 or any(ord(c) < 32 for c in raw):
        raise ValueError("numéro de téléphone illisible")
    m = _FR_MOBILE.match(_SEPARATORS.sub("", raw))
    if m is None:
        raise ValueError("seuls les numéros de mobile français sont acceptés (06 ou 07)")
    return "+33" + m.group(1)


def normalise_email(raw: str) -> str:
    """The address lower-cased; ValueError (French) when it is not one."""
    text = raw.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError("adresse e-mail invalide")
    return text.lower()


class SignupIn(BaseModel):
    """What the public sign-up form sends: a commune, a level, a phone number OR an e-mail."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commune: INSEE
    min_level: Literal["yellow", "orange", "red"] = "yellow"
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    exercises: bool = False  # also receive the PCS exercises
    consent: Literal[True]  # the box the resident ticks: without it, nothing is stored

    @model_validator(mode="after")
    def _one_address(self) -> SignupIn:
        if (self.phone is None) == (self.email is None):
            raise ValueError("donnez un numéro de mobile (phone) ou une adresse e-mail (email), un seul")
        if self.phone is not None:
            object.__setattr__(self, "phone", normalise_phone(self.phone))
        if self.email is not None:
            object.__setattr__(self, "email", normalise_email(self.email))
        return self

    @property
    def channel(self) -> Literal["sms", "email"]:
        """sms or email."""
        return "sms" if self.phone is not None else "email"

    @property
    def address(self) -> str:
        """The normalised address."""
        return self.phone or self.email or ""


class ConfirmIn(BaseModel):
    """The code a resident received by SMS, with the request it answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: str = Field(pattern=TOKEN_PATTERN)
    code: str = Field(pattern=r"^[0-9]{6}$")


class TokenIn(BaseModel):
    """A resident's own key (from the link in each message)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(pattern=TOKEN_PATTERN)


class InboundSms(BaseModel):
    """An SMS a resident sent to the gateway, as its webhook forwards it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sender: str = Field(min_length=1, max_length=40)
    msg: str = Field(max_length=1600)


class EraseIn(BaseModel):
    """An admin erasing a resident who asked by letter or phone (RGPD): by address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)

    @model_validator(mode="after")
    def _one(self) -> EraseIn:
        if (self.phone is None) == (self.email is None):
            raise ValueError("donnez phone ou email, un seul")
        return self

    def key(self) -> tuple[str, str]:
        """(channel, normalised address)."""
        if self.phone is not None:
            return "sms", normalise_phone(self.phone)
        assert self.email is not None
        return "email", normalise_email(self.email)


def new_token() -> str:
    """A random URL-safe key (256 bits)."""
    return secrets.token_urlsafe(32)


def new_code() -> str:
    """A random 6-digit code."""
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_code(request_key: str, code: str) -> str:
    """The stored form of a code: keyed by its request, so equal codes never hash alike."""
    return hmac.new(request_key.encode(), code.encode(), hashlib.sha256).hexdigest()


def code_matches(request_key: str, code: str, stored: str | None) -> bool:
    """Constant-time comparison of a code with its stored hash."""
    return stored is not None and hmac.compare_digest(hash_code(request_key, code), stored)


def limit_key(kind: str, value: str) -> str:
    """A rate-limit key that never holds the address or IP itself."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def channel_url(template: str, channel: str, address: str) -> str:
    """The Apprise URL reaching this resident, from the configured gateway template."""
    placeholder = "{number}" if channel == "sms" else "{email}"
    if placeholder not in template:
        raise ValueError(f"passerelle d'inscription sans {placeholder} configurée")
    # "+" quoted too: in a query string it would read as a space (a+b@x.fr, +336…).
    return template.replace(placeholder, quote(address, safe="@"))


def code_sms(code: str, commune: str, valid_min: int) -> str:
    """The opt-in SMS (GSM-7, one segment)."""
    return (
        f"Vigie: votre code d'inscription aux alertes de {commune} est {code} (valable {valid_min} min). "
        "Si vous n'avez rien demande, ignorez ce message."
    )


def confirm_email(link: str, commune: str) -> tuple[str, str]:
    """Subject and body of the opt-in e-mail."""
    return (
        f"[Vigie] Confirmez votre inscription aux alertes de {commune}",
        "\n".join(
            [
                "Bonjour,",
                "",
                f"Pour recevoir les alertes pluie et inondation de {commune}, confirmez votre "
                "inscription en ouvrant ce lien :",
                link,
                "",
                "Si vous n'avez rien demandé, ignorez ce message : sans confirmation, votre "
                "adresse est effacée.",
                "",
                "--",
                "Vigie - Communauté de communes des Deux Vallées.",
            ]
        ),
    )
