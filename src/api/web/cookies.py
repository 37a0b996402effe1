"""The cookies of the web app: the session (HttpOnly, SameSite=Lax, Secure behind TLS) and the
sign-in form's token (double-submit CSRF before any session exists)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from api.accounts.sessions import COOKIE as SESSION_COOKIE
from vigie.settings import Settings

FORM_COOKIE = "vigie_form"


def _secure(request: Request, settings: Settings) -> bool:
    # request.url.scheme is https over TLS, or behind a trusted proxy that said so.
    mode = settings.auth.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def set_session(response: Response, request: Request, settings: Settings, value: str) -> None:
    """Hand the browser its session key. Lax, not Strict: a link from an SMS to a page must
    arrive signed in; state changes are guarded by the CSRF token anyway."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(settings.auth.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
    )


def clear_session(response: Response, request: Request, settings: Settings) -> None:
    """Make the browser forget its session key."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings)
    )


def form_token(request: Request, response: Response, settings: Settings, path: str = "/connexion") -> str:
    """An anonymous form's token (sign-in, the public sign-up): the cookie's value, made when
    absent; `path` scopes the cookie to the page that posts it."""
    token = request.cookies.get(FORM_COOKIE)
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(32)
        response.set_cookie(
            FORM_COOKIE,
            token,
            max_age=3600 * 12,
            path=path,
            httponly=True,
            samesite="strict",
            secure=_secure(request, settings),
        )
    return token


def form_token_ok(request: Request, sent: str) -> bool:
    """Whether the form's token matches its cookie (a cross-site page can set neither)."""
    cookie = request.cookies.get(FORM_COOKIE, "")
    return bool(cookie and sent) and hmac.compare_digest(cookie.encode(), sent.encode())
