"""The API's one error path: every error answers {"detail": "<raison en français>"}.

Vigie's own exceptions, FastAPI's request validation (422), Starlette's HTTP errors (401/403
from auth, 404 for an unknown path, 405), a body over its limit (413), the database going away
mid-request (503, Retry-After) and anything unexpected (500) all end here, so clients and the
OpenAPI document (ErrorResponse) see one shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from api.openapi import api_routes
from api.validation import describe
from vigie.errors import ConflictError, NotFoundError, ValidationFailed, VigieError

log = logging.getLogger(__name__)

# Most specific first: the first matching class wins.
STATUS_BY_ERROR: tuple[tuple[type[VigieError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationFailed, 422),
    (VigieError, 400),
)
# Starlette's own English details ("Not Found") replaced by French ones.
FRENCH_STATUS: Mapping[int, str] = {
    400: "requête incorrecte",
    401: "authentification requise",
    403: "accès refusé",
    404: "ressource inconnue",
    405: "méthode non permise sur cette route",
    406: "format de réponse non disponible",
    413: "corps de requête trop volumineux",
    415: "type de contenu non pris en charge",
    500: "erreur interne du serveur",
}
DATABASE_AWAY = "base de données momentanément indisponible : réessayez dans quelques secondes"


def error_body(detail: str) -> dict[str, str]:
    """The error shape (schemas.errors.ErrorResponse)."""
    return {"detail": detail}


# FastAPI's own English details, for bodies it cannot read at all.
_FRENCH_DETAIL: Mapping[str, str] = {
    "There was an error parsing the body": "requête refusée : corps illisible (JSON en UTF-8 attendu)",
}


def _french(status: int, detail: Any) -> str:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    if isinstance(detail, str) and detail in _FRENCH_DETAIL:
        return _FRENCH_DETAIL[detail]
    if isinstance(detail, str) and detail and detail != phrase:
        return detail
    return FRENCH_STATUS.get(status, f"erreur {status}")


def too_large(limit: int) -> StarletteHTTPException:
    """The 413 of a body over `limit` bytes."""
    return StarletteHTTPException(413, f"corps de requête trop volumineux (au plus {limit} octets)")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the French {"detail": str} shape."""

    async def vigie_error(_request: Request, exc: Exception) -> JSONResponse:
        status = next(code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls))
        return JSONResponse(error_body(str(exc)), status_code=status)

    allowed: list[tuple[re.Pattern[str], frozenset[str]]] = []

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route matching the path only;
            # several routes share a path here (GET and POST /api/v1/rules): name them all.
            if not allowed:
                allowed.extend((compile_path(p)[0], m) for p, m, _r, _d in api_routes(app))
            methods = {m for regex, ms in allowed if regex.match(request.url.path) for m in ms}
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse(
            error_body(_french(exc.status_code, exc.detail)),
            status_code=exc.status_code,
            headers=headers or None,
        )

    async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Never FastAPI's list: it is English and echoes the input, which may be a secret.
        return JSONResponse(error_body(describe(exc.errors())), status_code=422)

    async def database_away(_request: Request, exc: Exception) -> JSONResponse:
        # The server went away mid-request (a restart, a full disk, a killed backend): the
        # client may retry; the pool checks the next connection it hands out (vigie.db). One
        # line, no traceback: it is the database's state, not a bug (make chaos, issue 14).
        log.warning("database unavailable during a request: %s", type(exc).__name__)
        return JSONResponse(error_body(DATABASE_AWAY), status_code=503, headers={"Retry-After": "5"})

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return JSONResponse(error_body(FRENCH_STATUS[500]), status_code=500)

    app.add_exception_handler(VigieError, vigie_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(psycopg.OperationalError, database_away)
    app.add_exception_handler(Exception, unexpected)
