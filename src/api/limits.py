"""Request body limits: a body over the limit of its route is refused (413, French) unread."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body, too_large
from api.openapi import api_routes

# Most bodies are small JSON documents; a route class may allow more (catchment polygons).
DEFAULT_BODY_LIMIT = 64 * 1024


class BodyLimit:
    """Refuse a request body over the limit of the route it is sent to.

    The route's class may set `body_limit`; other routes and unknown paths get
    DEFAULT_BODY_LIMIT. A declared Content-Length over the limit is refused before anything is
    read; a body streamed without one is counted as it arrives and refused once past the limit."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._table: list[tuple[re.Pattern[str], int]] | None = None

    def _limit(self, path: str) -> int:
        if self._table is None:  # built on the first request, once every router is mounted
            self._table = [
                (compile_path(p)[0], int(getattr(route, "body_limit", DEFAULT_BODY_LIMIT)))
                for p, _methods, route, _dep in api_routes(self.fastapi_app)
            ]
        return next((limit for regex, limit in self._table if regex.match(path)), DEFAULT_BODY_LIMIT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting receive, or answer 413 at once."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(str(scope.get("path", "")))
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared and (not declared.isdigit() or int(declared) > limit):
            refusal = JSONResponse(error_body(str(too_large(limit).detail)), status_code=413)
            await refusal(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the route, so the app's handler answers it like any 413.
                    raise too_large(limit)
            return message

        await self.app(scope, bounded, send)
