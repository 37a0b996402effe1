"""Who is calling, and the dependency every route declares: `require(Role.X, Role.Y, ...)`.

A caller is anonymous, a browser with a session cookie, or an integration with an API token
(`Authorization: Bearer vigie_...`). Every route names the roles it admits; Role.PUBLIC admits
everyone. A cookie-authenticated request that changes state must carry the session's CSRF token
(header `X-CSRF-Token` or form field `csrf_token`); bearer requests are exempt, since a browser
never adds that header on its own. Pages use `require_page`, which answers with an HTML page.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from api.accounts import audit, sessions, tokens
from api.accounts.roles import HELD, SIGNED_IN, Role
from api.accounts.sessions import Session
from api.accounts.users import get_user
from api.deps import Pool, Reads
from api.forms import is_form, read_form

__all__ = ["HELD", "SIGNED_IN", "STAFF", "Principal", "Role", "audited", "require", "require_page"]

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="Jeton d'API (`vigie tokens create`)")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The pages a browser signed in with a one-time password may open; others send it to /compte.
PASSWORD_CHANGE_PATHS = frozenset({"/compte", "/compte/mot-de-passe", "/deconnexion", "/connexion"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# Who sees the inside of the alert system (technician incidents, who acknowledged and why).
STAFF: tuple[Role, ...] = (Role.ADMIN, Role.TECHNICIAN, Role.DUTY, Role.VIEWER)


@dataclass(frozen=True)
class Principal:
    """The caller, as far as the API knows."""

    name: str
    roles: frozenset[Role]
    user_id: int | None = None
    display_name: str = ""
    session: Session | None = None
    token_id: int | None = None
    must_change_password: bool = False
    ip: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    def holds(self, *roles: Role) -> bool:
        """Whether the caller holds at least one of these roles."""
        return Role.PUBLIC in roles or not self.roles.isdisjoint(roles)

    @property
    def actor(self) -> audit.Actor:
        """This caller as the audit log names them."""
        return audit.Actor(self.user_id, self.name, self.ip)


ANONYMOUS = Principal("anonymous", frozenset())


def client_ip(request: Request) -> str | None:
    """The client's address (a trusted proxy's X-Forwarded-For is applied by the proxy
    middleware); None when it is not an IP address (a Unix socket, a test client)."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


class PageAuthError(HTTPException):
    """A 401/403 on a page: rendered as a French HTML page (see api.web.errors), not JSON."""


async def _csrf_ok(request: Request, session: Session) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and is_form(request):
        sent = (await read_form(request)).get(CSRF_FIELD) or None
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf_token.encode())


async def _from_session(pool: AsyncConnectionPool, key: str, ip: str | None) -> Principal | None:
    async with pool.connection() as conn:
        found = await sessions.find_session(conn, key)
        if found is None:
            return None
        user = await get_user(conn, found.user_id)
    return Principal(
        user.login,
        user.roles,
        user.id,
        user.display_name,
        session=found,
        must_change_password=user.must_change_password,
        ip=ip,
    )


async def current_principal(
    request: Request,
    pool: Reads,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Resolve the caller once per request (FastAPI caches this dependency); check CSRF."""
    ip = client_ip(request)
    if creds is not None:
        async with pool.connection() as conn:
            grant = await tokens.authenticate(conn, creds.credentials)
        if grant is None:
            raise HTTPException(401, "jeton invalide, expiré ou révoqué", {"WWW-Authenticate": "Bearer"})
        return Principal(grant.login, grant.roles, grant.user_id, grant.login, token_id=grant.token_id, ip=ip)
    key = request.cookies.get(sessions.COOKIE)
    principal = await _from_session(pool, key, ip) if key else None
    if principal is None:
        principal = Principal(ANONYMOUS.name, ANONYMOUS.roles, ip=ip)
    request.state.vigie_principal = principal  # for the error pages' header
    if (
        principal.session
        and request.method not in SAFE_METHODS
        and not await _csrf_ok(request, principal.session)
    ):
        error = PageAuthError if is_form(request) else HTTPException
        raise error(403, "jeton CSRF manquant ou invalide : rechargez la page et recommencez")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _checker(roles: tuple[Role, ...], error: type[HTTPException]) -> params.Depends:
    if not roles:
        raise ValueError("require() needs at least one role")
    wanted = frozenset(roles)

    # async: a plain def dependency would run in FastAPI's thread pool (a thread hop per request).
    async def check(request: Request, principal: CurrentPrincipal) -> Principal:
        if (
            error is PageAuthError
            and principal.must_change_password
            and principal.session is not None
            and request.url.path not in PASSWORD_CHANGE_PATHS
        ):
            # A one-time password (an admin's reset, a new account) is changed before anything else.
            raise PageAuthError(303, "mot de passe provisoire à changer", {"Location": "/compte"})
        if principal.holds(*wanted):
            return principal
        if not principal.signed_in:
            raise error(401, "authentification requise", {"WWW-Authenticate": "Bearer"})
        raise error(403, "accès refusé : votre rôle ne le permet pas")

    check.vigie_roles = wanted  # type: ignore[attr-defined]  # read by the route-audit test
    dependency: params.Depends = Depends(check)
    return dependency


def require(*roles: Role) -> params.Depends:
    """A dependency that admits only callers holding one of `roles` (Role.PUBLIC: everyone)."""
    return _checker(roles, HTTPException)


def require_page(*roles: Role) -> params.Depends:
    """As require(), for pages: a refusal is an HTML page with a link to sign in."""
    return _checker(roles, PageAuthError)


def audited(action: str) -> params.Depends:
    """A dependency that records `action` on the request's path in the audit log once the handler
    has succeeded (for routes whose handler does not record it itself: deletions, exports)."""

    async def record(request: Request, pool: Pool, principal: CurrentPrincipal) -> AsyncIterator[None]:
        yield  # an error in the handler is raised here, and nothing is recorded
        detail: dict[str, Any] = {"method": request.method}
        try:
            async with pool.connection() as conn:
                await audit.record(conn, principal.actor, action, request.url.path, detail)
        except Exception:  # the action is done; losing its audit line must not turn it into a 500
            log.exception("audit log: could not record %s on %s", action, request.url.path)

    dependency: params.Depends = Depends(record)
    return dependency
