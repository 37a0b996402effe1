"""Pages of one's own account: home, sign-in, sign-out, password change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.accounts import service
from api.accounts.roles import SIGNED_IN, Role
from api.auth import Principal, client_ip, require_page
from api.deps import Pool, SettingsDep
from api.forms import read_form
from api.web import cookies
from api.web.templates import PagesDep
from vigie.errors import ValidationFailed

router = APIRouter(tags=["pages"], include_in_schema=False)
Anyone = Annotated[Principal, require_page(Role.PUBLIC)]
SignedIn = Annotated[Principal, require_page(*SIGNED_IN)]


@dataclass(frozen=True)
class HomeLink:
    """One link of a home-page section."""

    label: str
    href: str
    text: str = ""


@dataclass(frozen=True)
class HomeSection:
    """What one role finds on its home page."""

    title: str
    role: Role
    links: tuple[HomeLink, ...]
    empty: str = ""


# Each role's corner of the home page; pages built later add their links here (docs/web.md).
HOME: tuple[HomeSection, ...] = (
    HomeSection(
        "Administration",
        Role.ADMIN,
        (
            HomeLink("Utilisateurs", "/admin/utilisateurs", "les comptes et leurs rôles"),
            HomeLink("Jetons d'API", "/admin/jetons", "les accès des intégrations"),
            HomeLink("Journal d'audit", "/admin/journal", "qui a fait quoi, quand, d'où"),
        ),
    ),
    HomeSection(
        "Technicien",
        Role.TECHNICIAN,
        (
            HomeLink("Stations (API)", "/api/v1/stations", "liste des pluviomètres, en JSON"),
            HomeLink("Règles d'alerte (API)", "/api/v1/rules"),
            HomeLink("Carte du territoire", "/carte", "les pluviomètres, leur état et leur pluie, en direct"),
            HomeLink("Tournée de maintenance", "/maintenance", "les pluviomètres à visiter, imprimable"),
        ),
    ),
    HomeSection(
        "Astreinte",
        Role.DUTY,
        (
            HomeLink("Astreinte", "/astreinte", "incidents ouverts, prise en compte, preuve d'alerte"),
            HomeLink("Carte du territoire", "/carte", "les pluviomètres et leur pluie, en direct"),
            HomeLink("Incidents (API)", "/api/v1/incidents?state=open", "incidents ouverts, en JSON"),
        ),
    ),
    HomeSection(
        "Naturaliste",
        Role.NATURALIST,
        (
            HomeLink("Revue des webcams", "/revue", "les clips à revoir, en vignettes, et le calendrier"),
            HomeLink("Les plus douteux d'abord", "/revue?tri=doute", "clips au score faible ou mis en doute"),
            HomeLink("Espèces (API)", "/api/v1/species", "la liste des espèces, en JSON"),
            HomeLink("Statistiques de la revue", "/revue/statistiques", "par jour, part revue, espèces"),
        ),
    ),
    HomeSection(
        "Élus",
        Role.VIEWER,
        (
            HomeLink("Carte du territoire", "/carte", "les pluviomètres et leur pluie, en direct"),
            HomeLink("Incidents", "/astreinte", "en cours et historique, en lecture seule"),
            HomeLink("Incidents (API)", "/api/v1/incidents", "en lecture seule"),
            HomeLink("Revue des webcams", "/revue", "les clips et leurs observations, en lecture seule"),
        ),
    ),
    # web-admin: the gauge network for technicians; who is warned and what they are told, for admins
    HomeSection(
        "Réseau et alertes",
        Role.TECHNICIAN,
        (
            HomeLink("Stations", "/admin/stations", "créer une station, son compte MQTT, la retirer"),
            HomeLink("Règles d'alerte", "/admin/regles", "seuils, fenêtres et niveaux"),
            HomeLink("Bassins versants", "/admin/bassins", "communes et stations de chaque bassin"),
        ),
    ),
    HomeSection(
        "Abonnés, consignes et exercices",
        Role.ADMIN,
        (
            HomeLink("Administration", "/admin", "toutes les pages d'administration"),
            HomeLink("Abonnés", "/admin/abonnes", "qui est prévenu, et l'envoi de test"),
            HomeLink(
                "Portée par commune", "/admin/abonnes/portee", "habitants inscrits face à la population"
            ),
            HomeLink("Consignes", "/admin/consignes", "ce que les messages disent de faire"),
            HomeLink("Exercices", "/admin/exercices", "l'exercice du PCS et son rapport"),
        ),
    ),
)


def _safe_next(target: str) -> str:
    """Only a path of this site: never '//host' or 'https://host' (no open redirect)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) <= 500:
        return target
    return "/"


@router.get("/")
async def home(request: Request, pages: PagesDep, principal: Anyone) -> Response:
    """The home page: per role, links to what exists; sign-in for the anonymous."""
    sections = [s for s in HOME if s.role in principal.roles]
    return pages.render(request, "home.html", principal, sections=sections)


@router.get("/connexion")
async def signin_form(
    request: Request,
    pages: PagesDep,
    settings: SettingsDep,
    principal: Anyone,
    suivant: Annotated[str, Query(max_length=500)] = "/",
) -> Response:
    """The sign-in form (already signed in: straight to where they were going)."""
    if principal.signed_in:
        return RedirectResponse(_safe_next(suivant), status_code=303)
    return _signin_page(
        request, pages, settings, principal, status=200, error=None, login="", next_=_safe_next(suivant)
    )


def _signin_page(
    request: Request,
    pages: PagesDep,
    settings: SettingsDep,
    principal: Principal,
    *,
    status: int,
    error: str | None,
    login: str,
    next_: str,
) -> Response:
    """The sign-in form, with its token (and the token's cookie, when the browser had none)."""
    holder = Response()
    token = cookies.form_token(request, holder, settings)
    page = pages.render(
        request,
        "signin.html",
        principal,
        status=status,
        error=error,
        login=login,
        next=next_,
        form_token=token,
    )
    for value in holder.headers.getlist("set-cookie"):
        page.headers.append("set-cookie", value)
    return page


SIGNIN_REFUSED = {
    "refused": (401, "Identifiant ou mot de passe incorrect."),
    "limited": (
        429,
        "Trop d'essais de connexion. Réessayez dans un quart d'heure, "
        "ou demandez à un administrateur de réinitialiser votre mot de passe.",
    ),
    "disabled": (403, "Ce compte est désactivé. Adressez-vous à un administrateur."),
}


@router.post("/connexion")
async def signin(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: Pool, principal: Anyone
) -> Response:
    """Check the form's token, then the limiter and the password; open a session."""
    form = await read_form(request)
    login, next_ = form.get("login")[:200], _safe_next(form.get("suivant", "/"))
    if not cookies.form_token_ok(request, form.get("csrf_token")):
        return _signin_page(
            request,
            pages,
            settings,
            principal,
            status=403,
            login=login,
            next_=next_,
            error="Le formulaire a expiré. Saisissez à nouveau votre mot de passe.",
        )
    result = await service.sign_in(
        pool,
        settings.auth,
        login,
        form.get("password"),
        client_ip(request),
        request.headers.get("user-agent"),
    )
    if result.outcome != "ok" or result.cookie is None or result.user is None:
        status, message = SIGNIN_REFUSED[result.outcome]
        return _signin_page(
            request, pages, settings, principal, status=status, error=message, login=login, next_=next_
        )
    target = "/compte" if result.user.must_change_password else next_
    redirect = RedirectResponse(target, status_code=303)
    cookies.set_session(redirect, request, settings, result.cookie)
    return redirect


@router.post("/deconnexion")
async def signout(request: Request, settings: SettingsDep, pool: Pool, principal: SignedIn) -> Response:
    """End this session (the CSRF token was checked with the caller)."""
    if principal.session is not None:
        async with pool.connection() as conn, conn.transaction():
            await service.sign_out(conn, principal.actor, principal.session.id)
    redirect = RedirectResponse("/connexion?fait=deconnecte", status_code=303)
    cookies.clear_session(redirect, request, settings)
    return redirect


@router.get("/compte")
async def account(request: Request, pages: PagesDep, settings: SettingsDep, principal: SignedIn) -> Response:
    """One's account: who, which roles, and the password form."""
    return pages.render(
        request, "account.html", principal, error=None, min_length=settings.auth.password_min_length
    )


@router.post("/compte/mot-de-passe")
async def change_password(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: Pool, principal: SignedIn
) -> Response:
    """Change one's password; every session ends and this browser gets a fresh one."""
    form = await read_form(request)
    error = None
    if principal.user_id is None:
        error = "Seule une session de navigateur peut changer son mot de passe."
    elif form.get("new") != form.get("confirm"):
        error = "Les deux saisies du nouveau mot de passe diffèrent."
    if error is None and principal.user_id is not None:
        try:
            cookie, _ = await service.change_password(
                pool,
                settings.auth,
                principal.actor,
                principal.user_id,
                form.get("current"),
                form.get("new"),
                client_ip(request),
                request.headers.get("user-agent"),
            )
        except ValidationFailed as exc:
            error = str(exc).capitalize() + "."
        else:
            redirect = RedirectResponse("/compte?fait=mot-de-passe", status_code=303)
            cookies.set_session(redirect, request, settings, cookie)
            return redirect
    return pages.render(
        request,
        "account.html",
        principal,
        status=422,
        error=error,
        min_length=settings.auth.password_min_length,
    )
