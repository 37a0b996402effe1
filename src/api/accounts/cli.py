"""`vigie users ...` and `vigie tokens ...`: accounts and API tokens from the command line.

The first admin: `vigie users create alice --name "Alice Martin" --role admin` prints a one-time
password (changed at first sign-in), or reads one from standard input with --password-stdin.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from psycopg import AsyncConnection

from api.accounts import audit, service, tokens
from api.accounts.roles import LABELS, ordered, parse_roles
from api.accounts.users import User, find_by_login, list_users
from vigie.db import APP_CLI, CONNECT_TIMEOUT_S
from vigie.errors import VigieError
from vigie.settings import Settings

users_app = typer.Typer(help="Comptes des utilisateurs (rôles, mots de passe).", no_args_is_help=True)
tokens_app = typer.Typer(help="Jetons d'API des intégrations.", no_args_is_help=True)

T = TypeVar("T")
RoleOpt = Annotated[list[str], typer.Option("--role", help="admin, technician, duty, naturalist, viewer")]


def _actor() -> audit.Actor:
    return audit.Actor(None, f"cli:{getpass.getuser()}", None)


def _run(work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
    """Run work in one transaction on the configured database; a Vigie error exits 1 in French."""

    async def main() -> T:
        url = Settings().database_url.get_secret_value()
        # Named like every other Vigie connection (vigie.db), so pg_stat_activity says who it is.
        connection = AsyncConnection.connect(url, application_name=APP_CLI, connect_timeout=CONNECT_TIMEOUT_S)
        async with await connection as conn, conn.transaction():
            return await work(conn)

    try:
        return asyncio.run(main())
    except (VigieError, psycopg.Error) as exc:
        typer.echo(f"erreur : {exc}", err=True)
        raise typer.Exit(1) from None


async def _user(conn: AsyncConnection[Any], login: str) -> User:
    found = await find_by_login(conn, login)
    if found is None:
        raise VigieError(f"utilisateur inconnu : {login}")
    return found[0]


def _roles_text(user: User) -> str:
    return ",".join(r.value for r in ordered(user.roles)) or "-"


@users_app.command("create")
def create(
    login: str,
    role: RoleOpt,
    name: Annotated[str | None, typer.Option(help="Nom affiché (par défaut : l'identifiant)")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Lire le mot de passe sur l'entrée standard")] = False,
) -> None:
    """Create an account; prints a one-time password unless --password-stdin."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    roles = parse_roles(role)
    auth = Settings().auth

    async def work(conn: AsyncConnection[Any]) -> tuple[User, str | None]:
        return await service.new_user(conn, _actor(), auth, login, name or login, roles, password)

    user, one_time = _run(work)
    typer.echo(f"compte créé : {user.login} ({_roles_text(user)})", err=True)
    if one_time:
        typer.echo("mot de passe à usage unique (à changer à la première connexion) :", err=True)
        typer.echo(one_time)


@users_app.command("list")
def list_cmd() -> None:
    """List accounts: login, roles, state, name."""

    async def work(conn: AsyncConnection[Any]) -> list[User]:
        return await list_users(conn)

    for u in _run(work):
        state = "désactivé" if u.disabled_at else "actif"
        typer.echo(f"{u.login}\t{_roles_text(u)}\t{state}\t{u.display_name}")


@users_app.command("disable")
def disable(login: str, enable: Annotated[bool, typer.Option(help="Réactiver le compte")] = False) -> None:
    """Disable an account (its sessions end at once), or --enable it again."""

    async def work(conn: AsyncConnection[Any]) -> User:
        return await service.set_disabled(conn, _actor(), (await _user(conn, login)).id, not enable)

    user = _run(work)
    typer.echo(f"{user.login} : {'réactivé' if enable else 'désactivé'}")


@users_app.command("set-roles")
def set_roles(login: str, role: RoleOpt) -> None:
    """Replace an account's roles."""
    roles = parse_roles(role)

    async def work(conn: AsyncConnection[Any]) -> User:
        return await service.set_roles(conn, _actor(), (await _user(conn, login)).id, roles)

    user = _run(work)
    typer.echo(f"{user.login} : " + ", ".join(LABELS[r] for r in ordered(user.roles)))


@users_app.command("reset-password")
def reset_password(login: str) -> None:
    """Give an account a one-time password (printed) and end its sessions."""

    async def work(conn: AsyncConnection[Any]) -> str:
        return (await service.reset_password(conn, _actor(), (await _user(conn, login)).id))[1]

    one_time = _run(work)
    typer.echo("mot de passe à usage unique (à changer à la première connexion) :", err=True)
    typer.echo(one_time)


@tokens_app.command("create")
def create_token(
    user: Annotated[str, typer.Option(help="Titulaire du jeton (identifiant)")],
    name: Annotated[str, typer.Option(help="À quoi sert le jeton")],
    role: RoleOpt,
    days: Annotated[int | None, typer.Option(help="Validité en jours")] = None,
) -> None:
    """Create a token; prints its secret once, on standard output (e.g. TOKEN=$(vigie tokens create ...))."""
    roles = parse_roles(role)
    auth = Settings().auth
    lifetime = days if days is not None else auth.token_days_default

    async def work(conn: AsyncConnection[Any]) -> tuple[str, tokens.Token]:
        owner = await _user(conn, user)
        return await service.new_token(conn, _actor(), owner, name, roles, lifetime, auth)

    secret, token = _run(work)
    typer.echo(f"jeton {token.id} créé pour {token.login}, expire le {token.expires_at:%Y-%m-%d}", err=True)
    typer.echo(secret)


@tokens_app.command("list")
def list_tokens() -> None:
    """List tokens: id, holder, name, roles, expiry, state."""

    async def work(conn: AsyncConnection[Any]) -> list[tokens.Token]:
        return await tokens.list_tokens(conn)

    for t in _run(work):
        state = "révoqué" if t.revoked_at else "actif"
        roles = ",".join(r.value for r in ordered(t.roles))
        typer.echo(f"{t.id}\t{t.login}\t{t.name}\t{roles}\t{t.expires_at:%Y-%m-%d}\t{state}\t{t.prefix}…")


@tokens_app.command("revoke")
def revoke(token_id: int) -> None:
    """Revoke a token at once."""

    async def work(conn: AsyncConnection[Any]) -> tokens.Token:
        return await service.revoke_token(conn, _actor(), token_id)

    token = _run(work)
    typer.echo(f"jeton {token.id} révoqué")
