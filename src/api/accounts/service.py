"""What people do with accounts, shared by the pages, the JSON routes and `vigie users`:
sign in, change or reset a password, create, disable, change roles. Each action writes its
audit line in the same transaction as the change it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from anyio import to_thread
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.accounts import audit, limiter, sessions, tokens
from api.accounts.passwords import check_policy, hash_password, one_time_password, verify_password
from api.accounts.roles import Role, ordered
from api.accounts.users import User, create_user, find_by_login, get_user, password_hash_of
from api.accounts.users import set_disabled as _set_disabled
from api.accounts.users import set_password as _set_password
from api.accounts.users import set_roles as _set_roles
from vigie.errors import ValidationFailed
from vigie.settings import AuthSettings

Conn = AsyncConnection[Any]


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt; `cookie` is set only when it succeeded."""

    outcome: Literal["ok", "refused", "limited", "disabled"]
    user: User | None = None
    cookie: str | None = None
    session: sessions.Session | None = None


async def sign_in(
    pool: AsyncConnectionPool,
    auth: AuthSettings,
    login: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
) -> SignIn:
    """Check the limiter, then the password; open a session when both pass."""
    login = login.strip().lower()[:200]
    keys = (limiter.account_key(login), limiter.ip_key(ip))
    async with pool.connection() as conn:
        # Counted and committed before the password is checked (see limiter's docstring).
        n_account = await limiter.count_attempt(conn, keys[0], auth.signin_window_s)
        n_ip = await limiter.count_attempt(conn, keys[1], auth.signin_window_s)
        found = await find_by_login(conn, login)
    user = found[0] if found else None
    actor = audit.Actor(user.id if user else None, login or "(vide)", ip)
    if n_account > auth.signin_max_per_account or n_ip > auth.signin_max_per_ip:
        async with pool.connection() as conn:
            which = "compte" if n_account > auth.signin_max_per_account else "adresse"
            await audit.record(conn, actor, "signin.limited", login, {"limite": which})
        return SignIn("limited")
    matches = await to_thread.run_sync(verify_password, found[1] if found else None, password)
    async with pool.connection() as conn, conn.transaction():
        if not matches or user is None:
            await audit.record(conn, actor, "signin.failed", login)
            return SignIn("refused")
        for key in keys:
            await limiter.forgive(conn, key)
        if not user.active:
            await audit.record(conn, actor, "signin.failed", login, {"raison": "compte désactivé"})
            return SignIn("disabled", user)
        cookie, session = await sessions.open_session(
            conn, user.id, timedelta(hours=auth.session_hours), ip, user_agent
        )
        await audit.record(conn, actor, "signin.ok", login)
    return SignIn("ok", user, cookie, session)


async def sign_out(conn: Conn, actor: audit.Actor, session_id: int) -> None:
    """End this session."""
    await sessions.revoke_session(conn, session_id)
    await audit.record(conn, actor, "signout", actor.name)


async def change_password(
    pool: AsyncConnectionPool,
    auth: AuthSettings,
    actor: audit.Actor,
    user_id: int,
    current: str,
    new: str,
    ip: str | None,
    user_agent: str | None,
) -> tuple[str, sessions.Session]:
    """Change one's own password; every session of the account ends and a fresh one is opened."""
    async with pool.connection() as conn:
        stored = await password_hash_of(conn, user_id)
    if not await to_thread.run_sync(verify_password, stored, current):
        raise ValidationFailed("mot de passe actuel incorrect")
    if new == current:
        raise ValidationFailed("le nouveau mot de passe doit différer de l'actuel")
    check_policy(new, auth.password_min_length)
    hashed = await to_thread.run_sync(hash_password, new)
    async with pool.connection() as conn, conn.transaction():
        await _set_password(conn, user_id, hashed, must_change=False)
        ended = await sessions.revoke_user_sessions(conn, user_id)
        cookie, session = await sessions.open_session(
            conn, user_id, timedelta(hours=auth.session_hours), ip, user_agent
        )
        await audit.record(conn, actor, "password.changed", actor.name, {"sessions_closes": ended})
    return cookie, session


async def new_user(
    conn: Conn,
    actor: audit.Actor,
    auth: AuthSettings,
    login: str,
    display_name: str,
    roles: frozenset[Role],
    password: str | None,
) -> tuple[User, str | None]:
    """Create an account; with no password given, make a one-time one (returned, to be shown once)."""
    one_time = None
    if password is None:
        one_time = password = one_time_password()
    else:
        check_policy(password, auth.password_min_length)
    hashed = await to_thread.run_sync(hash_password, password)
    user = await create_user(
        conn, login, display_name, roles, hashed, must_change_password=one_time is not None
    )
    await audit.record(conn, actor, "user.created", user.login, {"roles": [r.value for r in ordered(roles)]})
    return user, one_time


async def reset_password(conn: Conn, actor: audit.Actor, user_id: int) -> tuple[User, str]:
    """An admin's reset: a one-time password, every session ended, the limiter's lock lifted."""
    one_time = one_time_password()
    hashed = await to_thread.run_sync(hash_password, one_time)
    user = await _set_password(conn, user_id, hashed, must_change=True)
    ended = await sessions.revoke_user_sessions(conn, user_id)
    await limiter.clear(conn, limiter.account_key(user.login))
    await audit.record(conn, actor, "password.reset", user.login, {"sessions_closes": ended})
    return user, one_time


async def set_roles(conn: Conn, actor: audit.Actor, user_id: int, roles: frozenset[Role]) -> User:
    """Replace an account's roles (its tokens narrow with it: they never exceed the user's roles)."""
    before = await get_user(conn, user_id)
    user = await _set_roles(conn, user_id, roles)
    await audit.record(
        conn,
        actor,
        "user.roles",
        user.login,
        {"avant": [r.value for r in ordered(before.roles)], "apres": [r.value for r in ordered(roles)]},
    )
    return user


async def set_disabled(conn: Conn, actor: audit.Actor, user_id: int, disabled: bool) -> User:
    """Disable an account (its sessions end; its tokens stop working) or enable it again."""
    user = await _set_disabled(conn, user_id, disabled)
    if disabled:
        await sessions.revoke_user_sessions(conn, user_id)
    await audit.record(conn, actor, "user.disabled" if disabled else "user.enabled", user.login)
    return user


async def new_token(
    conn: Conn,
    actor: audit.Actor,
    owner: User,
    name: str,
    roles: frozenset[Role],
    days: int,
    auth: AuthSettings,
) -> tuple[str, tokens.Token]:
    """Make an API token for owner (roles it holds, at most auth.token_days_max days); return the
    secret, to be shown once, and the record."""
    if not 1 <= days <= auth.token_days_max:
        raise ValidationFailed(f"validité de 1 à {auth.token_days_max} jours")
    secret, token = await tokens.create_token(
        conn,
        user_id=owner.id,
        user_roles=owner.roles,
        name=name,
        roles=roles,
        lifetime=timedelta(days=days),
        created_by=actor.id,
    )
    detail = {"titulaire": owner.login, "roles": [r.value for r in ordered(roles)]}
    await audit.record(conn, actor, "token.created", token.label, detail)
    return secret, token


async def revoke_token(conn: Conn, actor: audit.Actor, token_id: int) -> tokens.Token:
    """Revoke an API token at once."""
    token = await tokens.revoke_token(conn, token_id)
    await audit.record(conn, actor, "token.revoked", token.label)
    return token
