"""API tokens over the API (admin): list, create (the secret is in that answer only), revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.accounts import service, tokens
from api.accounts.roles import Role, ordered, parse_roles
from api.accounts.users import get_user
from api.auth import Principal, require
from api.deps import Pool, SettingsDep
from api.schemas.errors import error_responses

router = APIRouter(prefix="/api/v1/tokens", tags=["accounts"])
TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Admin = Annotated[Principal, require(Role.ADMIN)]


class TokenOut(BaseModel):
    """A token's record; `prefix` tells it apart, the secret is never shown again."""

    id: int
    user_id: int
    login: str
    name: str
    prefix: str
    roles: list[Role]
    created_at: datetime
    expires_at: datetime
    revoked: bool
    last_used_at: datetime | None

    @classmethod
    def of(cls, t: tokens.Token) -> TokenOut:
        return cls(
            id=t.id,
            user_id=t.user_id,
            login=t.login,
            name=t.name,
            prefix=t.prefix,
            roles=ordered(t.roles),
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked=t.revoked_at is not None,
            last_used_at=t.last_used_at,
        )


class TokenIn(BaseModel):
    """A new token for user_id, with some of that user's roles."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"user_id": 1, "name": "Supervision préfecture", "roles": ["viewer"], "days": 90}]
        },
    )

    user_id: int = Field(ge=1, le=2**63 - 1)
    name: str = Field(max_length=200)
    roles: list[str] = Field(min_length=1, max_length=5)
    days: int | None = Field(default=None, ge=1, le=3650)


class TokenCreated(TokenOut):
    """The new token, with its secret (this answer only)."""

    token: str


@router.get("", response_model=list[TokenOut], dependencies=[require(Role.ADMIN)])
async def list_all(pool: Pool) -> list[TokenOut]:
    """Every token, newest first, revoked ones included."""
    async with pool.connection() as conn:
        return [TokenOut.of(t) for t in await tokens.list_tokens(conn)]


@router.post("", response_model=TokenCreated, status_code=201, responses=error_responses(404))
async def create(pool: Pool, settings: SettingsDep, principal: Admin, body: TokenIn) -> TokenCreated:
    """Create a token; 422 if its user lacks one of its roles or the validity is too long."""
    days = body.days if body.days is not None else settings.auth.token_days_default
    roles = parse_roles(body.roles)
    async with pool.connection() as conn, conn.transaction():
        owner = await get_user(conn, body.user_id)
        secret, token = await service.new_token(
            conn, principal.actor, owner, body.name, roles, days, settings.auth
        )
    return TokenCreated(**TokenOut.of(token).model_dump(), token=secret)


@router.delete("/{token_id}", response_model=TokenOut, responses=error_responses(404))
async def revoke(pool: Pool, principal: Admin, token_id: TokenId) -> TokenOut:
    """Revoke a token at once (idempotent)."""
    async with pool.connection() as conn, conn.transaction():
        token = await service.revoke_token(conn, principal.actor, token_id)
    return TokenOut.of(token)
