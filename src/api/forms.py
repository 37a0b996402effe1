"""HTML form bodies (application/x-www-form-urlencoded), read once per request and bounded.

Vigie's forms send only short text fields, so this reads them with the standard library instead
of pulling in a multipart parser: no file upload, no multipart, no more than MAX_FIELDS fields."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Form:
    """The fields of a form, in order; a name may repeat (checkboxes)."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        """The first value of a field, or default."""
        return next((v for k, v in self.pairs if k == name), default)

    def getall(self, name: str) -> list[str]:
        """Every value of a field."""
        return [v for k, v in self.pairs if k == name]


def is_form(request: Request) -> bool:
    """Whether the request says it carries an urlencoded form."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM_TYPE


async def read_form(request: Request) -> Form:
    """The request's form (cached on the request: the CSRF check and the handler share it)."""
    cached: Form | None = getattr(request.state, "vigie_form", None)
    if cached is not None:
        return cached
    if not is_form(request):
        raise HTTPException(415, "formulaire attendu (application/x-www-form-urlencoded)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "formulaire trop volumineux")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "formulaire illisible") from None
    form = Form(tuple(pairs))
    request.state.vigie_form = form
    return form
