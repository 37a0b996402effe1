"""Admin pages of the gauge network: the administration hub (/admin) and the stations.

A station is created, changed, given a new device password and retired through the API's own
handlers (api.routes.station_admin): the same provisioning as `vigie stations add`, which writes
the broker's password file and ACL and makes the running broker reload them. The MQTT password
is on the answer page once and nowhere else. Roles: technician or admin, as the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.auth import Principal, Role, require_page
from api.deps import Pool, SettingsDep
from api.forms import Form, read_form
from api.routes import station_admin
from api.schemas.stations import StationUpdate
from api.validation import field_errors
from api.web import admin_forms as af
from api.web.templates import PagesDep
from vigie import communes_queries, device_health, stations_queries
from vigie.stations import StationIn

router = APIRouter(prefix="/admin", tags=["pages"], include_in_schema=False)
Tech = Annotated[Principal, require_page(Role.TECHNICIAN, Role.ADMIN)]
StationId = Annotated[str, Path(min_length=1, max_length=64)]

STATUS_FR = {
    device_health.Health.ONLINE: ("en ligne", "ok"),
    device_health.Health.LATE: ("en retard", "neutral"),
    device_health.Health.OFFLINE: ("hors ligne", "off"),
    device_health.Health.LOW_BATTERY: ("batterie faible", "neutral"),
}


# The hub: each admin page with what it is for, shown to the roles that may open it.
HUB: tuple[tuple[str, str, str, frozenset[Role]], ...] = (
    ("Utilisateurs", "/admin/utilisateurs", "les comptes et leurs rôles", frozenset({Role.ADMIN})),
    ("Jetons d'API", "/admin/jetons", "les accès des intégrations", frozenset({Role.ADMIN})),
    ("Journal d'audit", "/admin/journal", "qui a fait quoi, quand, d'où", frozenset({Role.ADMIN})),
    (
        "Stations",
        "/admin/stations",
        "les pluviomètres, leurs comptes MQTT",
        frozenset({Role.TECHNICIAN, Role.ADMIN}),
    ),
    (
        "Règles d'alerte",
        "/admin/regles",
        "seuils, fenêtres et niveaux",
        frozenset({Role.TECHNICIAN, Role.ADMIN}),
    ),
    (
        "Bassins versants",
        "/admin/bassins",
        "communes et stations de chaque bassin",
        frozenset({Role.TECHNICIAN, Role.ADMIN}),
    ),
    ("Abonnés", "/admin/abonnes", "qui est prévenu, et l'envoi de test", frozenset({Role.ADMIN})),
    (
        "Portée par commune",
        "/admin/abonnes/portee",
        "habitants inscrits face à la population",
        frozenset({Role.ADMIN}),
    ),
    (
        "Consignes",
        "/admin/consignes",
        "ce que les messages disent de faire, par commune",
        frozenset({Role.ADMIN}),
    ),
    ("Exercices", "/admin/exercices", "l'exercice du PCS et son rapport", frozenset({Role.ADMIN})),
    ("Caméras", "/admin/cameras", "les webcams faune, leur état et leurs masques", frozenset({Role.ADMIN})),
)


@router.get("")
async def hub(request: Request, pages: PagesDep, principal: Tech) -> Response:
    """The administration pages this caller may open."""
    links = [(label, href, text) for label, href, text, roles in HUB if not roles.isdisjoint(principal.roles)]
    return pages.render(request, "admin_home.html", principal, links=links)


def _station_values(form: Form) -> dict[str, str]:
    keys = (
        "id",
        "name",
        "commune_insee",
        "lat",
        "lon",
        "altitude_m",
        "tip_mm",
        "expected_interval_s",
        "dev_eui",
    )
    return {k: form.get(k) for k in keys}


def _station_body(values: dict[str, str]) -> dict[str, Any]:
    return af.without_blanks(
        {
            "id": af.text(values.get("id", "")),
            "name": af.text(values.get("name", "")),
            "commune_insee": af.text(values.get("commune_insee", "")),
            "lat": af.number(values.get("lat", "")),
            "lon": af.number(values.get("lon", "")),
            "altitude_m": af.number(values.get("altitude_m", "")),
            "tip_mm": af.number(values.get("tip_mm", "")),
            "expected_interval_s": af.integer(values.get("expected_interval_s", "")),
            "dev_eui": af.text(values.get("dev_eui", "").lower()),
        }
    )


async def _stations_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    async with pool.connection() as conn:
        rows = await stations_queries.list_with_status(conn)
        communes = await communes_queries.all_names(conn)
    now = datetime.now(UTC)
    for r in rows:
        health = device_health.status(
            now,
            r["last_seen"],
            r["expected_interval_s"],
            r["online"],
            r["battery_v"],
            settings.maintenance.low_battery_v,
        )
        r["status_fr"], r["status_kind"] = STATUS_FR[health] if r["active"] else ("retirée", "off")
    return pages.render(
        request,
        "admin_stations.html",
        principal,
        status=status,
        stations=rows,
        communes=communes,
        error=error,
        errors=errors or {},
        form=form or {"expected_interval_s": "300", "tip_mm": "0,2"},
    )


@router.get("/stations")
async def stations_page(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Tech
) -> Response:
    """Every station with its state and last message, and the form that creates one."""
    return await _stations_page(request, pages, pool, settings, principal)


@router.post("/stations")
async def create_station(
    request: Request, pages: PagesDep, pool: Pool, settings: SettingsDep, principal: Tech
) -> Response:
    """Create a station and its device account; its MQTT password is on this answer only."""
    values = _station_values(await read_form(request))
    body = _station_body(values)
    errors = field_errors(StationIn, body)
    if errors:
        return await _stations_page(
            request,
            pages,
            pool,
            settings,
            principal,
            status=422,
            errors=errors,
            form=values,
            error="La station n'a pas été créée : corrigez les champs signalés.",
        )
    try:
        creds = await station_admin.create_station(pool, settings, principal, body)
    except af.HANDLER_ERRORS as exc:
        return await _stations_page(
            request,
            pages,
            pool,
            settings,
            principal,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    return _credentials_page(request, pages, principal, creds, created=True)


def _credentials_page(
    request: Request, pages: PagesDep, principal: Principal, creds: Any, *, created: bool
) -> Response:
    station = creds.station
    reload = (
        "Le broker a relu ses comptes : l'appareil peut se connecter dès maintenant."
        if creds.broker_reloaded
        else "Le broker n'a pas pu être prévenu : il lira le compte à son prochain démarrage."
    )
    title = f"Station {station} créée" if created else f"Nouveau mot de passe pour {station}"
    lead = (
        f"Identifiant MQTT de l'appareil : {creds.username}. "
        + ("" if created else "L'ancien mot de passe ne fonctionne plus. ")
        + reload
    )
    return pages.render(
        request,
        "secret_shown.html",
        principal,
        title=title,
        lead=lead,
        label=f"Mot de passe MQTT de {creds.username}",
        secret=creds.password,
        back_href=f"/admin/stations/{station}",
        back_label="Retour à la station",
    )


async def _station_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    station_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    confirm_retire: bool = False,
) -> Response:
    async with pool.connection() as conn:
        row = await stations_queries.get_with_status(conn, station_id)
        communes = await communes_queries.all_names(conn)
    if row is None:
        return af.not_found(request, pages, principal, f"La station « {station_id} »", "/admin/stations")
    shown = form or {
        "name": row["name"],
        "commune_insee": row["commune_insee"],
        "lat": str(row["lat"]),
        "lon": str(row["lon"]),
    }
    return pages.render(
        request,
        "admin_station.html",
        principal,
        status=status,
        station=row,
        communes=communes,
        error=error,
        errors=errors or {},
        form=shown,
        confirm_retire=confirm_retire,
    )


@router.get("/stations/{station_id}")
async def station_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, station_id: StationId
) -> Response:
    """One station: its description to edit, a new device password, retirement."""
    return await _station_page(request, pages, pool, principal, station_id)


@router.post("/stations/{station_id}")
async def update_station(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, station_id: StationId
) -> Response:
    """Change a station's name, commune and coordinates."""
    form = await read_form(request)
    values = {k: form.get(k) for k in ("name", "commune_insee", "lat", "lon")}
    body = {
        "name": values["name"].strip(),
        "commune_insee": values["commune_insee"].strip(),
        "lat": af.number(values["lat"]),
        "lon": af.number(values["lon"]),
    }
    errors = field_errors(StationUpdate, body)
    for key in ("lat", "lon"):
        if body[key] is None:
            errors[key] = "champ obligatoire"
    if errors:
        return await _station_page(
            request,
            pages,
            pool,
            principal,
            station_id,
            status=422,
            errors=errors,
            form=values,
            error="La station n'a pas été modifiée : corrigez les champs signalés.",
        )
    try:
        await station_admin.update_station(pool, station_id, body)
    except af.HANDLER_ERRORS as exc:
        return await _station_page(
            request,
            pages,
            pool,
            principal,
            station_id,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(
        pool, principal, "station.changed", f"/admin/stations/{station_id}", {"champs": sorted(body)}
    )
    return af.see(f"/admin/stations/{station_id}", "station")


@router.post("/stations/{station_id}/mot-de-passe")
async def rotate_credentials(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Tech,
    station_id: StationId,
) -> Response:
    """A new MQTT password for the device, shown once; the old one stops working at once."""
    try:
        creds = await station_admin.rotate_credentials(settings, station_id)
    except af.HANDLER_ERRORS as exc:
        return await _station_page(
            request, pages, pool, principal, station_id, status=af.error_status(exc), error=af.error_text(exc)
        )
    await af.record(pool, principal, "station.credentials.rotated", f"/admin/stations/{station_id}")
    return _credentials_page(request, pages, principal, creds, created=False)


@router.get("/stations/{station_id}/retirer")
async def retire_confirm(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, station_id: StationId
) -> Response:
    """The confirmation step before a station is retired (works without scripts)."""
    return await _station_page(request, pages, pool, principal, station_id, confirm_retire=True)


@router.post("/stations/{station_id}/retirer")
async def retire_station(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    settings: SettingsDep,
    principal: Tech,
    station_id: StationId,
) -> Response:
    """Retire a station: its device account is deleted, its readings are kept."""
    form = await read_form(request)
    if form.get("confirmer") != "oui":
        return await _station_page(
            request,
            pages,
            pool,
            principal,
            station_id,
            status=422,
            confirm_retire=True,
            error="Cochez la case de confirmation pour retirer la station.",
        )
    try:
        await station_admin.retire_station(settings, station_id)
    except af.HANDLER_ERRORS as exc:
        return await _station_page(
            request, pages, pool, principal, station_id, status=af.error_status(exc), error=af.error_text(exc)
        )
    await af.record(pool, principal, "deleted", f"/admin/stations/{station_id}", {"method": "retrait"})
    return af.see("/admin/stations", "station-retiree")
