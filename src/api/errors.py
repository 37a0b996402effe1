"""One place that maps Vigie's exceptions to HTTP answers (French messages for the users)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from vigie.errors import ConflictError, NotFoundError, ValidationFailed, VigieError

# Most specific first: the first matching class wins.
STATUS_BY_ERROR: tuple[tuple[type[VigieError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationFailed, 422),
    (VigieError, 400),
)


def install(app: FastAPI) -> None:
    """Register the handler that turns a VigieError into {"detail": message}."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        status = next(code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls))
        return JSONResponse({"detail": str(exc)}, status_code=status)

    app.add_exception_handler(VigieError, handle)
