"""Roles and the dependency every route declares. For now one static admin token; accounts with
argon2-hashed passwords come with the accounts issue. Every route names its role explicitly."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


class Role(StrEnum):
    """Who may call a route. PUBLIC routes need no token."""

    PUBLIC = "public"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The caller, as far as the API knows."""

    name: str
    roles: frozenset[Role]


ANONYMOUS = Principal("anonymous", frozenset({Role.PUBLIC}))


def _principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token: str = request.app.state.settings.api.admin_token.get_secret_value()
    if creds is None:
        return ANONYMOUS
    # An empty configured token disables admin access rather than accepting an empty bearer.
    if token and hmac.compare_digest(creds.credentials.encode(), token.encode()):
        return Principal("admin", frozenset({Role.ADMIN, Role.PUBLIC}))
    raise HTTPException(
        status_code=401, detail="jeton invalide", headers={"WWW-Authenticate": "Bearer"}
    )


def require(role: Role) -> params.Depends:
    """A dependency that admits only callers holding `role`."""

    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if role in principal.roles:
            return principal
        if principal is ANONYMOUS:
            raise HTTPException(
                status_code=401,
                detail="authentification requise",
                headers={"WWW-Authenticate": "Bearer"},
            )
        raise HTTPException(status_code=403, detail="accès refusé")

    check.vigie_role = role  # type: ignore[attr-defined]  # read by the test that audits routes
    dependency: params.Depends = Depends(check)
    return dependency
