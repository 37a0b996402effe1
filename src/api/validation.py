"""French reasons from pydantic's errors, and the parsing and patching the handlers share.

FastAPI's own 422 answer is a list of English messages that echo the input back; the input may
hold secrets (a subscriber's Apprise URL), so Vigie words each error in French, without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ValidationError

from vigie.errors import ValidationFailed

MAX_REASONS = 5

M = TypeVar("M", bound=BaseModel)

# pydantic error type -> French message; {ctx keys} are filled from the error's context.
_FRENCH: Mapping[str, str] = {
    "missing": "champ obligatoire",
    "extra_forbidden": "champ inconnu",
    "json_invalid": "JSON invalide ({error})",
    "json_type": "JSON attendu",
    "model_attributes_type": "objet JSON attendu",
    "dict_type": "objet JSON attendu",
    "model_type": "objet JSON attendu",
    "list_type": "liste attendue",
    "string_type": "texte attendu",
    "string_too_short": "texte trop court (au moins {min_length} caractère(s))",
    "string_too_long": "texte trop long (au plus {max_length} caractères)",
    "string_pattern_mismatch": "format invalide",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "finite_number": "nombre fini attendu",
    "bool_type": "booléen attendu (true ou false)",
    "bool_parsing": "booléen attendu (true ou false)",
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "less_than": "doit être inférieur à {lt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "too_short": "trop peu d'éléments (au moins {min_length})",
    "too_long": "trop d'éléments (au plus {max_length})",
    "literal_error": "valeur inattendue ; valeurs possibles : {expected}",
    "enum": "valeur inattendue ; valeurs possibles : {expected}",
    "datetime_parsing": "date et heure ISO 8601 attendues (ex. 2026-11-28T10:00:00Z)",
    "datetime_type": "date et heure ISO 8601 attendues (ex. 2026-11-28T10:00:00Z)",
    "datetime_from_date_parsing": "date et heure ISO 8601 attendues (ex. 2026-11-28T10:00:00Z)",
    "timezone_aware": "la date doit porter un fuseau (ex. 2026-11-28T10:00:00Z)",
    "time_parsing": "heure attendue (HH:MM)",
    "time_type": "heure attendue (HH:MM)",
    "string_unicode": "texte UTF-8 attendu",
}


def _where(loc: Sequence[Any]) -> str:
    # 'body' / 'query' / 'path' say where the field came from; users only need the field name.
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts)


def _message(err: Mapping[str, Any]) -> str:
    template = _FRENCH.get(str(err.get("type", "")))
    ctx = err.get("ctx") or {}
    if template is not None:
        try:
            return template.format(**{k: str(v) for k, v in ctx.items()})
        except (KeyError, IndexError):
            pass
    # Our own validators raise ValueError with a French reason; pydantic prefixes it.
    return str(err.get("msg", "valeur invalide")).removeprefix("Value error, ")


def describe(errors: Sequence[Mapping[str, Any]], prefix: str = "requête refusée") -> str:
    """One French sentence from pydantic errors; never echoes the input (it may be a secret)."""
    reasons = []
    for err in errors[:MAX_REASONS]:
        where = _where(err.get("loc", ()))
        msg = _message(err)
        reasons.append(f"{where} : {msg}" if where else msg)
    if len(errors) > MAX_REASONS:
        reasons.append(f"et {len(errors) - MAX_REASONS} autre(s) erreur(s)")
    return f"{prefix} : " + " ; ".join(reasons)


def parse(model: type[M], data: Any, prefix: str = "requête refusée") -> M:
    """Validate data as model; ValidationFailed (422) with French reasons."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(describe(exc.errors(include_url=False), prefix)) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7396): objects merge key by key, null removes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    # pydantic also reads numbers ("0.5") as Unix times; the API documents ISO 8601 only.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("date et heure ISO 8601 attendues (ex. 2026-11-28T10:00:00Z)")
    return value


# A query time: ISO 8601 text only (the OpenAPI format date-time), never a bare number.
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only)]
IsoAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]


def reasons_by_field(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """pydantic errors as French reasons keyed by their top-level field ('' for the whole
    object), so that a page shows each beside its field; never echoes the input."""
    out: dict[str, list[str]] = {}
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        field = str(loc[0]) if loc else ""
        inner = ".".join(str(p) for p in loc[1:])
        # Bounds the French way on a page: « 90 », « 0,2 » (pydantic prints 90.0 and 0.2).
        msg = re.sub(r"(?<=\d)\.(?=\d)", ",", re.sub(r"(?<=\d)\.0\b", "", _message(err)))
        out.setdefault(field, []).append(f"{inner} : {msg}" if inner else msg)
    return {k: " ; ".join(v[:MAX_REASONS]) for k, v in out.items()}


def field_errors(model: type[M], data: Any) -> dict[str, str]:
    """What is wrong with data as model, per field (see reasons_by_field); {} when it is valid."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return reasons_by_field(exc.errors(include_url=False))
    return {}
