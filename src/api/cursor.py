"""Opaque cursors for keyset pagination: the last row's sort key and id, and the sort they
belong to, as URL-safe base64 JSON. Clients pass them back unread; a cursor that does not
decode, or that was made for another sort, is refused (422) rather than silently restarted."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from vigie.errors import ValidationFailed

MAX_CURSOR_CHARS = 400
_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    """Where the previous page stopped, for one sort and order."""

    sort: str
    order: str
    key: str | float
    id: int


def encode(cursor: Cursor) -> str:
    """The opaque text of a cursor."""
    raw = json.dumps(
        {"v": _VERSION, "s": cursor.sort, "o": cursor.order, "k": cursor.key, "i": cursor.id},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(text: str, sort: str, order: str) -> Cursor:
    """The cursor of a page for this sort and order; ValidationFailed if it is not one."""
    bad = ValidationFailed("requête refusée : cursor : curseur invalide (reprenez depuis la première page)")
    if len(text) > MAX_CURSOR_CHARS:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise bad
    key, ident = data.get("k"), data.get("i")
    if not isinstance(key, str | int | float) or isinstance(key, bool):
        raise bad
    if not isinstance(ident, int) or isinstance(ident, bool) or not 0 < ident < 2**63:
        raise bad
    if data.get("s") != sort or data.get("o") != order:
        raise ValidationFailed(
            "requête refusée : cursor : ce curseur vient d'un autre tri (sort, order) : reprenez"
            " depuis la première page"
        )
    return Cursor(sort, order, key if isinstance(key, str) else float(key), ident)
