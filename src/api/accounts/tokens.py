"""API tokens for integrations (owner of `api_tokens`): scoped to roles, expiring, revocable,
shown once and stored hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from api.accounts.opaque import digest, new_secret
from api.accounts.roles import Role, ordered
from vigie.errors import NotFoundError, ValidationFailed

Conn = AsyncConnection[Any]
# A recognisable prefix lets secret scanners and people spot a leaked Vigie token.
PREFIX = "vigie_"
# How stale last_used_at may get before a request writes it again.
LAST_USED_STEP = timedelta(minutes=1)
_COLUMNS = (
    "t.id, t.user_id, u.login, t.name, t.prefix, t.roles, t.created_at, t.expires_at, t.revoked_at,"
    " t.last_used_at"
)


@dataclass(frozen=True)
class Token:
    """A token's record (never its secret)."""

    id: int
    user_id: int
    login: str
    name: str
    prefix: str
    roles: frozenset[Role]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def label(self) -> str:
        """How the audit log names the token."""
        return f"jeton {self.id} « {self.name} »"


@dataclass(frozen=True)
class Bearer:
    """What a valid token grants: its roles, narrowed to those its user still holds."""

    token_id: int
    user_id: int
    login: str
    roles: frozenset[Role]


def _token(row: dict[str, Any]) -> Token:
    return Token(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        login=str(row["login"]),
        name=str(row["name"]),
        prefix=str(row["prefix"]),
        roles=frozenset(Role(r) for r in row["roles"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


async def create_token(
    conn: Conn,
    *,
    user_id: int,
    user_roles: frozenset[Role],
    name: str,
    roles: frozenset[Role],
    lifetime: timedelta,
    created_by: int | None,
) -> tuple[str, Token]:
    """Make a token for a user, with roles the user holds; return the secret (shown once) and record."""
    name = name.strip()
    if not 1 <= len(name) <= 200 or any(ord(c) < 32 for c in name):
        raise ValidationFailed("nom du jeton : 1 à 200 caractères, sans caractère de contrôle")
    if not roles:
        raise ValidationFailed("un jeton porte au moins un rôle")
    if not roles <= user_roles:
        extra = ", ".join(r.value for r in ordered(roles - user_roles))
        raise ValidationFailed(f"le titulaire du jeton n'a pas ces rôles : {extra}")
    secret = new_secret(PREFIX)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "WITH t AS (INSERT INTO api_tokens"  # noqa: S608
            " (user_id, name, prefix, token_hash, roles, created_by, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, now() + %s) RETURNING *)"
            f" SELECT {_COLUMNS} FROM t JOIN users u ON u.id = t.user_id",
            (
                user_id,
                name,
                secret[: len(PREFIX) + 6],
                digest(secret),
                [r.value for r in ordered(roles)],
                created_by,
                lifetime,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return secret, _token(row)


async def authenticate(conn: Conn, secret: str) -> Bearer | None:
    """The grant of a presented token; None when unknown, revoked, expired or its user disabled."""
    # last_used_at is written at most once a minute (LAST_USED_STEP): a script calling at 200
    # requests/s would otherwise write, lock and commit the same row 200 times a second, which
    # serialised its requests behind one another (measured by make bench-api). A minute is fine
    # for what the column is for: spotting unused tokens in the list.
    cur = await conn.execute(
        "WITH t AS ("
        " SELECT t.id, t.user_id, u.login, t.last_used_at,"
        "  ARRAY(SELECT unnest(t.roles) INTERSECT SELECT unnest(u.roles)) AS roles"
        " FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now()"
        " AND u.disabled_at IS NULL),"
        " touched AS (UPDATE api_tokens a SET last_used_at = now() FROM t WHERE a.id = t.id"
        " AND (t.last_used_at IS NULL OR t.last_used_at < now() - %s))"
        " SELECT id, user_id, login, roles FROM t",
        (digest(secret), LAST_USED_STEP),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Bearer(int(row[0]), int(row[1]), str(row[2]), frozenset(Role(r) for r in row[3]))


async def list_tokens(conn: Conn, *, include_revoked: bool = True) -> list[Token]:
    """Every token, newest first."""
    where = "" if include_revoked else " WHERE t.revoked_at IS NULL"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id{where}"  # noqa: S608
            " ORDER BY t.created_at DESC, t.id DESC"
        )
        return [_token(r) for r in await cur.fetchall()]


async def revoke_token(conn: Conn, token_id: int) -> Token:
    """Revoke a token at once (idempotent); NotFoundError when it does not exist."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "WITH t AS (UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"  # noqa: S608
            f" RETURNING *) SELECT {_COLUMNS} FROM t JOIN users u ON u.id = t.user_id",
            (token_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"jeton inconnu : {token_id}")
    return _token(row)
