"""What the network and residents admin pages share: reading form values the way a French user
types them, turning the API handlers' errors into the page's French sentences and status codes,
the audit line of each action, and the 404 page.

The pages call the API's own handlers (api.routes.*): same validation, same provisioning, same
French errors. These helpers only translate between a form and a JSON-like body."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.accounts import audit
from api.auth import Principal
from api.deps import Pool
from api.web.templates import Pages
from vigie.errors import ConflictError, NotFoundError, VigieError

# An empty text box stands for "not given": the model's default (or null) applies.
Blank = None


def sentence(text: str) -> str:
    """An error reason as a sentence: capital first, full stop last."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def error_status(exc: Exception) -> int:
    """The page's status for an error of the API's handlers (422 for refused input)."""
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 422


def error_text(exc: Exception) -> str:
    """The French reason of an error raised by an API handler."""
    if isinstance(exc, StarletteHTTPException):
        return sentence(str(exc.detail))
    return sentence(str(exc))


HANDLER_ERRORS = (VigieError, HTTPException, StarletteHTTPException)


def text(value: str) -> str | None:
    """A text box: None when left empty (so that the model's default applies)."""
    value = value.strip()
    return value or Blank


def number(value: str) -> float | str | None:
    """A number as a French user types it ('12,5' or '12.5'); None when empty. Anything else is
    passed on as typed, so that the model refuses it with its own French reason."""
    value = value.strip().replace("\u202f", "").replace(" ", "")
    if not value:
        return Blank
    try:
        return float(value.replace(",", "."))
    except ValueError:
        return value


def integer(value: str) -> int | str | None:
    """An integer box; None when empty, the text as typed when it is not a whole number."""
    value = value.strip()
    if not value:
        return Blank
    try:
        return int(value)
    except ValueError:
        return value


def without_blanks(values: dict[str, Any]) -> dict[str, Any]:
    """The body of a form: fields left empty are left out (defaults apply)."""
    return {k: v for k, v in values.items() if v is not None}


async def record(
    pool: Pool, principal: Principal, action: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """One audit line for an admin page's action (never a secret in `detail`)."""
    async with pool.connection() as conn:
        await audit.record(conn, principal.actor, action, target, detail)


def see(path: str, done: str) -> RedirectResponse:
    """Post-redirect-get, with one of the fixed flash sentences (templates.FLASH)."""
    return RedirectResponse(f"{path}?fait={done}", status_code=303)


def not_found(request: Request, pages: Pages, principal: Principal, what: str, back: str) -> Response:
    """A French 404 page with the way back to the list."""
    return pages.render(
        request,
        "error.html",
        principal,
        status=404,
        title="Introuvable",
        message=f"{what} n'existe pas (ou plus).",
        sign_in_href=None,
        back_href=back,
    )
