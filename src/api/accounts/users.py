"""The users table: accounts with their roles (owner of `users`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.accounts.roles import Role, ordered
from vigie.errors import ConflictError, NotFoundError, ValidationFailed

Conn = AsyncConnection[Any]
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_COLUMNS = (
    "id, login, display_name, roles, disabled_at, must_change_password, password_changed_at, created_at"
)


@dataclass(frozen=True)
class User:
    """One account, without its password hash."""

    id: int
    login: str
    display_name: str
    roles: frozenset[Role]
    disabled_at: datetime | None
    must_change_password: bool
    password_changed_at: datetime | None
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.disabled_at is None


def _user(row: dict[str, Any]) -> User:
    return User(
        id=int(row["id"]),
        login=str(row["login"]),
        display_name=str(row["display_name"]),
        roles=frozenset(Role(r) for r in row["roles"]),
        disabled_at=row["disabled_at"],
        must_change_password=bool(row["must_change_password"]),
        password_changed_at=row["password_changed_at"],
        created_at=row["created_at"],
    )


def check_login(login: str) -> str:
    """The login, normalised to lower case; refused unless it matches LOGIN."""
    norm = login.strip().lower()
    if not LOGIN.match(norm):
        raise ValidationFailed(
            "identifiant invalide : 2 à 63 caractères parmi a-z, 0-9, « . », « _ » et « - »"
        )
    return norm


def check_display_name(name: str) -> str:
    """The display name, trimmed; refused when empty, too long or with control characters."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationFailed("nom affiché : 1 à 200 caractères")
    if any(ord(c) < 32 for c in name):
        raise ValidationFailed("nom affiché : caractères de contrôle refusés")
    return name


async def create_user(
    conn: Conn,
    login: str,
    display_name: str,
    roles: frozenset[Role],
    password_hash: str,
    *,
    must_change_password: bool = False,
) -> User:
    """Insert an account; ConflictError when the login is taken."""
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO users (login, display_name, roles, password_hash, must_change_password,"  # noqa: S608
                " password_changed_at) VALUES (%s, %s, %s, %s, %s, now())"
                f" RETURNING {_COLUMNS}",
                (
                    check_login(login),
                    check_display_name(display_name),
                    [r.value for r in ordered(roles)],
                    password_hash,
                    must_change_password,
                ),
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise ConflictError(f"identifiant déjà pris : {login}") from None
    assert row is not None
    return _user(row)


async def get_user(conn: Conn, user_id: int) -> User:
    """One account by id; NotFoundError when missing."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM users WHERE id = %s", (user_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"utilisateur inconnu : {user_id}")
    return _user(row)


async def find_by_login(conn: Conn, login: str) -> tuple[User, str | None] | None:
    """The account and its password hash, for sign-in; None when the login is unknown."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS}, password_hash FROM users WHERE login = %s",  # noqa: S608
            (login.strip().lower(),),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return _user(row), row["password_hash"]


async def password_hash_of(conn: Conn, user_id: int) -> str | None:
    """The stored hash of one account (to check the current password before a change)."""
    cur = await conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return str(row[0]) if row and row[0] else None


async def list_users(conn: Conn) -> list[User]:
    """Every account, by login."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM users ORDER BY login")  # noqa: S608
        return [_user(r) for r in await cur.fetchall()]


async def _update(conn: Conn, user_id: int, assignments: str, params: tuple[Any, ...]) -> User:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE users SET {assignments}, updated_at = now() WHERE id = %s"  # noqa: S608
            f" RETURNING {_COLUMNS}",
            (*params, user_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"utilisateur inconnu : {user_id}")
    return _user(row)


async def _other_active_admins(conn: Conn, user_id: int) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM users WHERE id <> %s AND 'admin' = ANY (roles) AND disabled_at IS NULL",
        (user_id,),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def set_roles(conn: Conn, user_id: int, roles: frozenset[Role]) -> User:
    """Replace an account's roles; the last active admin cannot lose the admin role."""
    user = await get_user(conn, user_id)
    if (
        Role.ADMIN in user.roles
        and Role.ADMIN not in roles
        and await _other_active_admins(conn, user_id) == 0
    ):
        raise ConflictError("impossible de retirer le rôle administrateur au dernier administrateur actif")
    return await _update(conn, user_id, "roles = %s", ([r.value for r in ordered(roles)],))


async def set_disabled(conn: Conn, user_id: int, disabled: bool) -> User:
    """Disable (or enable again) an account; the last active admin cannot be disabled."""
    user = await get_user(conn, user_id)
    if disabled and Role.ADMIN in user.roles and await _other_active_admins(conn, user_id) == 0:
        raise ConflictError("impossible de désactiver le dernier administrateur actif")
    if disabled:
        return await _update(conn, user_id, "disabled_at = coalesce(disabled_at, now())", ())
    return await _update(conn, user_id, "disabled_at = NULL", ())


async def set_password(conn: Conn, user_id: int, password_hash: str, *, must_change: bool) -> User:
    """Store a new password hash (the caller revokes the account's sessions in the same transaction)."""
    return await _update(
        conn,
        user_id,
        "password_hash = %s, must_change_password = %s, password_changed_at = now()",
        (password_hash, must_change),
    )
