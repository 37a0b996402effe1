"""Refusals on pages answer as French HTML pages (401 with a link to sign in, 403), not JSON."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import ANONYMOUS, PageAuthError, Principal
from api.web.templates import Pages


def install(app: FastAPI, pages: Pages) -> None:
    """Register the HTML handler for PageAuthError (303: a redirect, to change a password)."""

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageAuthError)
        principal: Principal = getattr(request.state, "vigie_principal", ANONYMOUS)
        if exc.status_code == 303 and exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=303)
        if exc.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return pages.render(
                request,
                "error.html",
                principal,
                status=401,
                title="Connexion requise",
                message="Cette page est réservée aux personnes connectées.",
                sign_in_href="/connexion?suivant=" + quote(target, safe=""),
            )
        return pages.render(
            request,
            "error.html",
            principal,
            status=exc.status_code,
            title="Accès refusé",
            message=str(exc.detail),
            sign_in_href=None,
        )

    app.add_exception_handler(PageAuthError, handle)
