"""Accounts over the API: who am I (any signed-in caller), and the admin's user management."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.accounts import service
from api.accounts.roles import SIGNED_IN, Role, ordered, parse_roles
from api.accounts.users import User, get_user, list_users
from api.auth import Principal, require
from api.deps import Pool, SettingsDep
from api.schemas.errors import error_responses

router = APIRouter(prefix="/api/v1", tags=["accounts"])
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Admin = Annotated[Principal, require(Role.ADMIN)]


class UserOut(BaseModel):
    """An account as the API shows it (never its password hash)."""

    id: int
    login: str
    display_name: str
    roles: list[Role]
    active: bool
    must_change_password: bool
    created_at: datetime
    password_changed_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            login=user.login,
            display_name=user.display_name,
            roles=ordered(user.roles),
            active=user.active,
            must_change_password=user.must_change_password,
            created_at=user.created_at,
            password_changed_at=user.password_changed_at,
        )


class MeOut(BaseModel):
    """The caller: login, roles, and how they authenticated."""

    login: str
    display_name: str
    roles: list[Role]
    via: str = Field(description="« session » (navigateur) ou « token » (jeton d'API)")


class UserIn(BaseModel):
    """A new account; with no password, a one-time password is made and returned once."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"login": "c.durand", "display_name": "Claire Durand", "roles": ["duty", "viewer"]}]
        },
    )

    login: str = Field(max_length=63)
    display_name: str = Field(max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=5)
    password: str | None = Field(default=None, max_length=1024)


class UserCreated(UserOut):
    """The new account, with its one-time password when none was given (shown once)."""

    one_time_password: str | None


class UserPatch(BaseModel):
    """Roles and/or the disabled state of an account."""

    model_config = ConfigDict(extra="forbid")

    roles: list[str] | None = Field(default=None, max_length=5)
    disabled: bool | None = None


class PasswordReset(BaseModel):
    """The one-time password after an admin's reset (shown once)."""

    login: str
    one_time_password: str


@router.get("/me", response_model=MeOut)
async def me(principal: Annotated[Principal, require(*SIGNED_IN)]) -> MeOut:
    """Who the caller is."""
    return MeOut(
        login=principal.name,
        display_name=principal.display_name,
        roles=ordered(principal.roles),
        via="token" if principal.token_id is not None else "session",
    )


@router.get("/users", response_model=list[UserOut], dependencies=[require(Role.ADMIN)])
async def users(pool: Pool) -> list[UserOut]:
    """Every account, by login."""
    async with pool.connection() as conn:
        return [UserOut.of(u) for u in await list_users(conn)]


@router.post("/users", response_model=UserCreated, status_code=201, responses=error_responses(409))
async def create(pool: Pool, settings: SettingsDep, principal: Admin, body: UserIn) -> UserCreated:
    """Create an account (409 if the login is taken)."""
    roles = parse_roles(body.roles)
    async with pool.connection() as conn, conn.transaction():
        user, one_time = await service.new_user(
            conn, principal.actor, settings.auth, body.login, body.display_name, roles, body.password
        )
    return UserCreated(**UserOut.of(user).model_dump(), one_time_password=one_time)


@router.get(
    "/users/{user_id}",
    response_model=UserOut,
    dependencies=[require(Role.ADMIN)],
    responses=error_responses(404),
)
async def one(pool: Pool, user_id: UserId) -> UserOut:
    """One account."""
    async with pool.connection() as conn:
        return UserOut.of(await get_user(conn, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, responses=error_responses(404, 409))
async def patch(pool: Pool, principal: Admin, user_id: UserId, body: UserPatch) -> UserOut:
    """Change an account's roles, or disable / enable it (its sessions end when disabled)."""
    async with pool.connection() as conn, conn.transaction():
        user = await get_user(conn, user_id)
        if body.roles is not None:
            user = await service.set_roles(conn, principal.actor, user_id, parse_roles(body.roles))
        if body.disabled is not None and body.disabled == user.active:
            user = await service.set_disabled(conn, principal.actor, user_id, body.disabled)
    return UserOut.of(user)


@router.post("/users/{user_id}/reset-password", response_model=PasswordReset, responses=error_responses(404))
async def reset(pool: Pool, principal: Admin, user_id: UserId) -> PasswordReset:
    """Give an account a one-time password and end its sessions."""
    async with pool.connection() as conn, conn.transaction():
        user, one_time = await service.reset_password(conn, principal.actor, user_id)
    return PasswordReset(login=user.login, one_time_password=one_time)
