"""Rendering a page: the Jinja2 environment (autoescape on), the layout's context, French formats.

A route builds a page with `pages.render(request, "name.html", principal, **values)`: the layout
gets the caller, the navigation for their roles, the CSRF token, the flash message and the
territory's name; the template gets `values`. Every `{{ value }}` is HTML-escaped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from api.accounts.roles import LABELS, Role, ordered
from api.auth import Principal
from api.web.nav import entries_for, is_current
from api.web.static import Assets
from vigie.levels import LEVEL_FR
from vigie.settings import Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"

# Flash messages come as a code in ?fait= after a POST-redirect-GET: only these fixed French
# sentences can be shown, so a crafted link cannot put its own words on a Vigie page.
FLASH: dict[str, str] = {
    "connecte": "Vous êtes connecté.",
    "deconnecte": "Vous êtes déconnecté.",
    "mot-de-passe": "Mot de passe changé. Vos autres sessions ont été fermées.",
    "roles": "Rôles enregistrés.",
    "desactive": "Compte désactivé : ses sessions sont fermées.",
    "reactive": "Compte réactivé.",
    "revoque": "Jeton révoqué.",
    # web-admin: the network and residents admin pages
    "station": "Station enregistrée.",
    "station-retiree": "Station retirée : son compte MQTT est supprimé, ses relevés sont gardés.",
    "regle": "Règle enregistrée.",
    "regle-activee": "Règle réactivée.",
    "regle-desactivee": "Règle désactivée : elle n'est plus évaluée.",
    "regle-supprimee": "Règle supprimée.",
    "bassin": "Bassin versant enregistré.",
    "bassin-supprime": "Bassin versant supprimé.",
    "abonne": "Abonné ajouté.",
    "abonne-supprime": "Abonné supprimé.",
    "consigne": "Consigne enregistrée.",
    "consigne-defaut": "Consigne revenue au texte par défaut.",
    "exercice": "Exercice lancé : le service d'alerte le joue.",
    "test-envoye": "Envoi de test demandé : un message par contact, que le notifieur envoie dans les"
    " secondes qui viennent (le journal des envois le confirme).",
    "pris-en-compte": "Incident pris en compte : l'équipe sait que vous vous en occupez.",
    # cameras: the admin cameras pages
    "camera": "Caméra enregistrée : le service caméra la prend en compte dans les secondes qui viennent.",
    "masques": "Masques enregistrés : la caméra les applique sans redémarrer, dans les secondes"
    " qui viennent.",
    # review-web: the naturalists' review
    "revue-lot": "Action faite sur la sélection.",
    "revue-lot-nom-libre": "Action faite sur la sélection. Attention : ce nom n'est pas dans la liste"
    " des espèces.",
    "revue-vu": "Événement marqué comme vu.",
    "revue-pas-vu": "Événement marqué comme non vu.",
    "revue-faux-positif": "Événement marqué faux positif.",
    "revue-pas-faux-positif": "Ce n'est plus un faux positif.",
    "revue-favori": "Ajouté aux favoris.",
    "revue-personne": "Signalé : une personne est dans l'image. L'événement est caché aux lecteurs"
    " et hors des exports.",
    "revue-pas-personne": "Aucune personne : l'événement est de nouveau visible des lecteurs.",
    "revue-pas-favori": "Retiré des favoris.",
    "revue-observation": "Observation ajoutée.",
    "revue-observation-nom-libre": "Observation ajoutée. Attention : ce nom n'est pas dans la liste des"
    " espèces.",
    "revue-validee": "Observation validée.",
    "revue-reference": "Image de référence de l'espèce choisie : elle s'affiche à côté de ses clips.",
    "revue-rejetee": "Observation rejetée.",
}
# The word of each alert level (vigie.levels), and of none: a badge is never colour alone.
LEVEL_WORDS: dict[str, str] = {"none": "pas d'alerte", **LEVEL_FR}
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


class Pages:
    """The page renderer of one app (built in create_app, handed out by the `PagesDep` dependency)."""

    def __init__(self, settings: Settings, assets: Assets | None = None) -> None:
        self.settings = settings
        self.assets = assets or Assets()
        self.tz = ZoneInfo(settings.timezone)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            asset=self.assets.url,
            territory=settings.api.territory_name,
            timezone=settings.timezone,
            is_current=is_current,
        )
        self.env.filters.update(
            datetime_fr=self.datetime_fr,
            date_fr=self.date_fr,
            role_label=role_label,
            roles_fr=roles_fr,
            level_word=level_word,
            number_fr=number_fr,
            audit_detail=audit_detail,
        )

    def datetime_fr(self, at: datetime | None) -> str:
        """'1 décembre 2026 à 09:05' in the configured time zone; '—' for none."""
        if at is None:
            return "—"
        local = at.astimezone(self.tz)
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year} à {local:%H:%M}"

    def date_fr(self, at: datetime | None) -> str:
        """'1 décembre 2026' in the configured time zone."""
        if at is None:
            return "—"
        local = at.astimezone(self.tz)
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"

    def render(
        self, request: Request, template: str, principal: Principal, *, status: int = 200, **values: Any
    ) -> HTMLResponse:
        """The page `template` inside the layout, for this caller."""
        context = {
            "request_path": request.url.path,
            "principal": principal,
            "nav": entries_for(principal.roles),
            "csrf_token": principal.session.csrf_token if principal.session else None,
            "flash": FLASH.get(request.query_params.get("fait", "")),
            **values,
        }
        html = self.env.get_template(template).render(context)
        # Pages show what this caller may see: never kept by a shared cache or the back button.
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def role_label(role: Role | str) -> str:
    """The French name of a role."""
    return LABELS[Role(role)]


def roles_fr(roles: frozenset[Role]) -> str:
    """A user's roles in French, comma-separated."""
    return ", ".join(LABELS[r] for r in ordered(roles)) or "aucun rôle"


# The audit log's detail keys, in French; role lists are shown by their French names.
_DETAIL_LABELS = {
    "roles": "rôles",
    "avant": "avant",
    "apres": "après",
    "titulaire": "titulaire",
    "sessions_closes": "sessions fermées",
    "limite": "limite atteinte par",
    "raison": "raison",
    "method": "méthode",
}
_ROLE_LISTS = frozenset({"roles", "avant", "apres"})
_ROLE_VALUES = frozenset(r.value for r in Role)


def audit_detail(detail: dict[str, Any]) -> str:
    """An audit entry's detail as one French line: « rôles : technicien ; titulaire : claire »."""
    parts = []
    for key, value in detail.items():
        if isinstance(value, list):
            names = [LABELS[Role(v)] if key in _ROLE_LISTS and v in _ROLE_VALUES else str(v) for v in value]
            text = ", ".join(names) or "aucun"
        else:
            text = str(value)
        parts.append(f"{_DETAIL_LABELS.get(key, key)} : {text}")
    return " ; ".join(parts)


def level_word(level: str) -> str:
    """The French word of an alert level."""
    return LEVEL_WORDS.get(level, level)


def number_fr(value: float | int, decimals: int = 0) -> str:
    """A number the French way: a narrow no-break space between thousands, a decimal comma."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",")


async def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(_pages)]
