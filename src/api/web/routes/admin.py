"""Admin pages: users and roles, API tokens (shown once), the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.accounts import audit, service, tokens
from api.accounts.roles import HELD, LABELS, Role, parse_roles
from api.accounts.users import get_user, list_users
from api.auth import Principal, require_page
from api.deps import Pool, SettingsDep
from api.forms import read_form
from api.web.templates import PagesDep
from vigie.errors import VigieError

router = APIRouter(prefix="/admin", tags=["pages"], include_in_schema=False)
Admin = Annotated[Principal, require_page(Role.ADMIN)]
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ROLE_OPTIONS = [(r.value, LABELS[r]) for r in HELD]
AUDIT_FAMILIES = [
    ("signin", "Connexions"),
    ("signout", "Déconnexions"),
    ("password", "Mots de passe"),
    ("user", "Comptes"),
    ("token", "Jetons"),
    ("incident", "Prises en compte"),
    ("deleted", "Suppressions"),
    ("export", "Exports"),
]
AUDIT_PAGE = 100


def _message(exc: VigieError) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _see(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?fait={done}", status_code=303)


async def _users_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    async with pool.connection() as conn:
        users = await list_users(conn)
    return pages.render(
        request,
        "admin_users.html",
        principal,
        status=status,
        users=users,
        error=error,
        role_options=ROLE_OPTIONS,
        form=form or {"login": "", "display_name": "", "roles": []},
    )


@router.get("/utilisateurs")
async def users_page(request: Request, pages: PagesDep, pool: Pool, principal: Admin) -> Response:
    """Every account, and the form that creates one."""
    return await _users_page(request, pages, pool, principal)


@router.post("/utilisateurs")
async def create_user(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Admin
) -> Response:
    """Create an account with a one-time password, shown once."""
    form = await read_form(request)
    login, display_name, role_names = form.get("login"), form.get("display_name"), form.getall("roles")
    values = {"login": login, "display_name": display_name, "roles": role_names}
    try:
        roles = parse_roles(role_names)
        async with pool.connection() as conn, conn.transaction():
            user, one_time = await service.new_user(
                conn, principal.actor, settings.auth, login, display_name, roles, None
            )
    except VigieError as exc:
        return await _users_page(
            request, pages, pool, principal, status=422, error=_message(exc), form=values
        )
    return pages.render(
        request,
        "secret_shown.html",
        principal,
        title=f"Compte {user.login} créé",
        lead=f"Transmettez ce mot de passe à {user.display_name} par un autre canal ; "
        "il devra le changer à sa première connexion.",
        label="Mot de passe à usage unique",
        secret=one_time,
        back_href="/admin/utilisateurs",
        back_label="Retour aux utilisateurs",
    )


async def _user_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    user_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    async with pool.connection() as conn:
        user = await get_user(conn, user_id)
    return pages.render(
        request,
        "admin_user.html",
        principal,
        status=status,
        user=user,
        error=error,
        role_options=ROLE_OPTIONS,
        user_roles=[r.value for r in user.roles],
    )


@router.get("/utilisateurs/{user_id}")
async def user_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, user_id: UserId
) -> Response:
    """One account: its roles, a password reset, disabling."""
    return await _user_page(request, pages, pool, principal, user_id)


@router.post("/utilisateurs/{user_id}/roles")
async def set_roles(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, user_id: UserId
) -> Response:
    """Replace an account's roles."""
    form = await read_form(request)
    try:
        roles = parse_roles(form.getall("roles"))
        async with pool.connection() as conn, conn.transaction():
            await service.set_roles(conn, principal.actor, user_id, roles)
    except VigieError as exc:
        return await _user_page(request, pages, pool, principal, user_id, status=422, error=_message(exc))
    return _see(f"/admin/utilisateurs/{user_id}", "roles")


@router.post("/utilisateurs/{user_id}/mot-de-passe")
async def reset_password(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, user_id: UserId
) -> Response:
    """Give an account a one-time password (shown once) and end its sessions."""
    async with pool.connection() as conn, conn.transaction():
        user, one_time = await service.reset_password(conn, principal.actor, user_id)
    return pages.render(
        request,
        "secret_shown.html",
        principal,
        title=f"Mot de passe de {user.login} réinitialisé",
        lead="Ses sessions sont fermées. Transmettez ce mot de passe par un autre canal ; "
        "il devra le changer à sa prochaine connexion.",
        label="Mot de passe à usage unique",
        secret=one_time,
        back_href=f"/admin/utilisateurs/{user.id}",
        back_label="Retour au compte",
    )


async def _set_disabled(
    request: Request, pages: PagesDep, pool: Pool, principal: Principal, user_id: int, disabled: bool
) -> Response:
    try:
        async with pool.connection() as conn, conn.transaction():
            await service.set_disabled(conn, principal.actor, user_id, disabled)
    except VigieError as exc:
        return await _user_page(request, pages, pool, principal, user_id, status=409, error=_message(exc))
    return _see(f"/admin/utilisateurs/{user_id}", "desactive" if disabled else "reactive")


@router.post("/utilisateurs/{user_id}/desactiver")
async def disable(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, user_id: UserId
) -> Response:
    """Disable an account: it can no longer sign in; its sessions and tokens stop working."""
    return await _set_disabled(request, pages, pool, principal, user_id, True)


@router.post("/utilisateurs/{user_id}/reactiver")
async def enable(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, user_id: UserId
) -> Response:
    """Enable a disabled account again."""
    return await _set_disabled(request, pages, pool, principal, user_id, False)


async def _tokens_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    async with pool.connection() as conn:
        found = await tokens.list_tokens(conn)
        users = [u for u in await list_users(conn) if u.active]
    default: dict[str, Any] = {
        "name": "",
        "user_id": principal.user_id,
        "roles": [],
        "days": settings.auth.token_days_default,
    }
    return pages.render(
        request,
        "admin_tokens.html",
        principal,
        status=status,
        tokens=found,
        users=users,
        error=error,
        role_options=ROLE_OPTIONS,
        form=form or default,
        max_days=settings.auth.token_days_max,
        now=datetime.now(UTC),
    )


@router.get("/jetons")
async def tokens_page(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Admin
) -> Response:
    """Every API token (never its secret), and the form that creates one."""
    return await _tokens_page(request, pages, pool, settings, principal)


@router.post("/jetons")
async def create_token(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Admin
) -> Response:
    """Create a token; its secret is shown on this answer only."""
    form = await read_form(request)
    values: dict[str, Any] = {
        "name": form.get("name"),
        "roles": form.getall("roles"),
        "days": form.get("days"),
    }
    try:
        values["user_id"] = int(form.get("user_id") or 0)
        days = int(values["days"])
    except ValueError:
        return await _tokens_page(
            request,
            pages,
            pool,
            settings,
            principal,
            status=422,
            error="Validité : un nombre entier de jours.",
            form={**values, "user_id": None},
        )
    try:
        roles = parse_roles(values["roles"])
        async with pool.connection() as conn, conn.transaction():
            owner = await get_user(conn, values["user_id"])
            secret, token = await service.new_token(
                conn, principal.actor, owner, values["name"], roles, days, settings.auth
            )
    except VigieError as exc:
        return await _tokens_page(
            request, pages, pool, settings, principal, status=422, error=_message(exc), form=values
        )
    return pages.render(
        request,
        "secret_shown.html",
        principal,
        title=f"Jeton « {token.name} » créé",
        lead=f"Pour {token.login}, valable jusqu'au {pages.date_fr(token.expires_at)}. "
        "L'intégration l'envoie dans l'en-tête « Authorization: Bearer … ».",
        label="Jeton",
        secret=secret,
        back_href="/admin/jetons",
        back_label="Retour aux jetons",
    )


@router.post("/jetons/{token_id}/revoquer")
async def revoke_token(pool: Pool, principal: Admin, token_id: UserId) -> Response:
    """Revoke a token at once."""
    async with pool.connection() as conn, conn.transaction():
        await service.revoke_token(conn, principal.actor, token_id)
    return _see("/admin/jetons", "revoque")


@router.get("/journal")
async def audit_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Admin,
    action: Annotated[str, Query(pattern=r"^[a-z_.]{0,64}$")] = "",
    avant: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The audit log, newest first, by pages of AUDIT_PAGE entries."""
    async with pool.connection() as conn:
        found = await audit.entries(conn, limit=AUDIT_PAGE, before_id=avant, action=action or None)
    older = None
    if len(found) == AUDIT_PAGE:
        older = "/admin/journal?" + urlencode(
            {k: v for k, v in (("action", action), ("avant", found[-1].id)) if v}
        )
    return pages.render(
        request,
        "audit.html",
        principal,
        entries=found,
        actions=audit.ACTIONS,
        families=AUDIT_FAMILIES,
        action=action,
        older_href=older,
    )
