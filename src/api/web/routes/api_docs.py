"""The API's interactive documentation (Swagger UI), served from our own static folder.

FastAPI's built-in /docs loads Swagger UI from a CDN and starts it with an inline script; both
break the offline rule and the CSP (script-src 'self'). This page loads the copy that
`make assets` takes from npm (swagger-ui-dist, pinned) and starts it from static/api_docs.js.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.accounts.roles import Role
from api.auth import Principal, require_page
from api.web.templates import PagesDep

router = APIRouter(tags=["pages"], include_in_schema=False)
# The OpenAPI document itself is public (/openapi.json), so its reader is too.
Anyone = Annotated[Principal, require_page(Role.PUBLIC)]


@router.get("/docs")
async def api_docs(request: Request, pages: PagesDep, principal: Anyone) -> Response:
    """Swagger UI on /openapi.json; requests made from it carry the caller's session or token."""
    return pages.render(request, "api_docs.html", principal)
