"""Admin pages of what raises an alert: the rules (/admin/regles) and the catchments
(/admin/bassins).

Both go through the API's own handlers (api.routes.rules, api.routes.catchments), so a rule is
checked by the same validator (vigie.alert_rules, then alert_rules_queries.check for what needs
the database) and refused with the same French reasons. The page validates the form with the
same models first only to put each reason beside its field. Roles: technician or admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.auth import Principal, Role, require_page
from api.deps import Pool
from api.forms import Form, read_form
from api.routes import catchments as catchment_routes
from api.routes import rules as rule_routes
from api.validation import field_errors
from api.web import admin_forms as af
from api.web.rule_words import CHECK_FR, KIND_FR, SCOPE_FR, describe_rule
from api.web.templates import PagesDep
from vigie import catchments_queries, communes_queries, stations_queries
from vigie.alert_rules import HEALTH_CHECKS, PARAMS_BY_KIND, WINDOWS_MIN, RuleIn
from vigie.catchments import CatchmentBody, CatchmentIn
from vigie.errors import NotFoundError
from vigie.ids import BIGINT_MAX

router = APIRouter(prefix="/admin", tags=["pages"], include_in_schema=False)
Tech = Annotated[Principal, require_page(Role.TECHNICIAN, Role.ADMIN)]
RuleId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
CatchmentId = Annotated[str, Path(min_length=1, max_length=64)]

RULE_FIELDS = ("name", "kind", "scope_kind", "scope_id", "level", "audience")
PARAM_FIELDS = ("raise", "clear", "for_min", "window_min", "windows", "check", "measure")
LEVEL_OPTIONS = [("yellow", "jaune"), ("orange", "orange"), ("red", "rouge")]
AUDIENCE_OPTIONS = [
    ("", "selon le type"),
    ("public", "public"),
    ("technicians", "techniciens"),
]
MEASURE_OPTIONS = [("q_mm", "lame ruisselée (mm)"), ("volume_m3", "volume (m³)")]


# ---- rules --------------------------------------------------------------------------------------


def _rule_values(form: Form) -> dict[str, Any]:
    values: dict[str, Any] = {k: form.get(k).strip() for k in (*RULE_FIELDS, *PARAM_FIELDS)}
    values["enabled"] = form.get("enabled") == "oui"
    return values


def _params(values: dict[str, Any]) -> dict[str, Any]:
    """The params the chosen kind takes, from the boxes filled in (others are ignored)."""
    model = PARAMS_BY_KIND.get(values["kind"])
    accepted = set() if model is None else {f.alias or name for name, f in model.model_fields.items()}
    raw: dict[str, Any] = {
        "raise": af.number(values["raise"]),
        "clear": af.number(values["clear"]),
        "for_min": af.integer(values["for_min"]),
        "window_min": af.integer(values["window_min"]),
        "check": af.text(values["check"]),
        "measure": af.text(values["measure"]),
    }
    if values["windows"]:
        raw["windows"] = [af.integer(w) for w in values["windows"].replace(";", ",").split(",") if w.strip()]
    return af.without_blanks({k: v for k, v in raw.items() if k in accepted})


def _rule_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        **af.without_blanks({k: af.text(values[k]) for k in RULE_FIELDS}),
        "params": _params(values),
        "enabled": values["enabled"],
    }


def _rule_errors(body: dict[str, Any]) -> dict[str, str]:
    """Reasons per form field: the rule's own fields, then its params' (named as in the form;
    '' of the params, such as the hysteresis, under 'params')."""
    errors = field_errors(RuleIn, body)
    model = PARAMS_BY_KIND.get(str(body.get("kind")))
    param_errors = field_errors(model, body["params"]) if model is not None else {}
    if param_errors:
        # RuleIn's whole-rule check wraps the params' errors in one sentence: shown per field instead.
        errors.pop("", None)
        errors.pop("params", None)
        whole = param_errors.pop("", None)
        if whole is not None:
            # The params' own checks (window, hysteresis) are whole-object: put the window's beside it.
            key = "params"
            if whole.startswith("fenêtre"):
                key = "windows" if body.get("kind") == "return_period" else "window_min"
            param_errors[key] = whole
        errors.update(param_errors)
    return errors


def _stored_values(row: dict[str, Any]) -> dict[str, Any]:
    params = row["params"] or {}
    values: dict[str, Any] = {k: "" if row.get(k) is None else str(row[k]) for k in RULE_FIELDS}
    for key in PARAM_FIELDS:
        value = params.get(key)
        if isinstance(value, list):
            values[key] = ", ".join(str(v) for v in value)
        else:
            values[key] = (
                ""
                if value is None
                else str(value).replace(".", ",")
                if isinstance(value, float)
                else str(value)
            )
    values["enabled"] = bool(row["enabled"])
    return values


async def _rules_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    *,
    template: str = "admin_rules.html",
    rule: dict[str, Any] | None = None,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    async with pool.connection() as conn:
        rules = [r.model_dump() for r in await rule_routes.list_rules(pool)] if rule is None else []
        communes = dict(await communes_queries.all_names(conn))
    for r in rules:
        r["words"] = describe_rule(r, communes)
    return pages.render(
        request,
        template,
        principal,
        status=status,
        rules=rules,
        rule=rule,
        error=error,
        errors=errors or {},
        form=form
        or {
            "kind": "accumulation",
            "scope_kind": "station",
            "level": "yellow",
            "enabled": True,
            "for_min": "0",
        },
        kinds=list(KIND_FR.items()),
        scopes=list(SCOPE_FR.items()),
        levels=LEVEL_OPTIONS,
        audiences=AUDIENCE_OPTIONS,
        checks=[(c, CHECK_FR[c]) for c in HEALTH_CHECKS],
        measures=MEASURE_OPTIONS,
        windows=WINDOWS_MIN,
    )


@router.get("/regles")
async def rules_page(request: Request, pages: PagesDep, pool: Pool, principal: Tech) -> Response:
    """Every alert rule in words, and the form that creates one."""
    return await _rules_page(request, pages, pool, principal)


@router.post("/regles")
async def create_rule(request: Request, pages: PagesDep, pool: Pool, principal: Tech) -> Response:
    """Create a rule through the rule validator; its reasons are shown beside the fields."""
    values = _rule_values(await read_form(request))
    body = _rule_body(values)
    errors = _rule_errors(body)
    refused = "La règle n'a pas été créée : corrigez les champs signalés."
    if errors:
        return await _rules_page(
            request, pages, pool, principal, status=422, error=refused, errors=errors, form=values
        )
    try:
        created = await rule_routes.create_rule(pool, body)
    except af.HANDLER_ERRORS as exc:
        return await _rules_page(
            request,
            pages,
            pool,
            principal,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(pool, principal, "rule.created", f"/admin/regles/{created.id}", {"nom": created.name})
    return af.see("/admin/regles", "regle")


async def _rule_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Principal, rule_id: int, **extra: Any
) -> Response:
    try:
        rule = (await rule_routes.get_rule(pool, rule_id)).model_dump()
    except NotFoundError:
        return af.not_found(request, pages, principal, f"La règle n° {rule_id}", "/admin/regles")
    async with pool.connection() as conn:
        rule["words"] = describe_rule(rule, dict(await communes_queries.all_names(conn)))
    extra.setdefault("form", _stored_values(rule))
    return await _rules_page(request, pages, pool, principal, template="admin_rule.html", rule=rule, **extra)


@router.get("/regles/{rule_id}")
async def rule_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, rule_id: RuleId
) -> Response:
    """One rule to edit, disable or delete."""
    return await _rule_page(request, pages, pool, principal, rule_id)


@router.post("/regles/{rule_id}")
async def replace_rule(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, rule_id: RuleId
) -> Response:
    """Replace a rule; re-checked entirely, as the API's PUT."""
    values = _rule_values(await read_form(request))
    body = _rule_body(values)
    errors = _rule_errors(body)
    refused = "La règle n'a pas été modifiée : corrigez les champs signalés."
    if errors:
        return await _rule_page(
            request, pages, pool, principal, rule_id, status=422, error=refused, errors=errors, form=values
        )
    try:
        await rule_routes.replace_rule(pool, rule_id, body)
    except af.HANDLER_ERRORS as exc:
        return await _rule_page(
            request,
            pages,
            pool,
            principal,
            rule_id,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(pool, principal, "rule.changed", f"/admin/regles/{rule_id}")
    return af.see(f"/admin/regles/{rule_id}", "regle")


async def _set_enabled(
    request: Request, pages: PagesDep, pool: Pool, principal: Principal, rule_id: int, enabled: bool
) -> Response:
    try:
        await rule_routes.patch_rule(pool, rule_id, {"enabled": enabled})
    except af.HANDLER_ERRORS as exc:
        if isinstance(exc, NotFoundError):
            return af.not_found(request, pages, principal, f"La règle n° {rule_id}", "/admin/regles")
        return await _rule_page(
            request, pages, pool, principal, rule_id, status=af.error_status(exc), error=af.error_text(exc)
        )
    await af.record(
        pool, principal, "rule.enabled" if enabled else "rule.disabled", f"/admin/regles/{rule_id}"
    )
    return af.see(f"/admin/regles/{rule_id}", "regle-activee" if enabled else "regle-desactivee")


@router.post("/regles/{rule_id}/activer")
async def enable_rule(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, rule_id: RuleId
) -> Response:
    """Enable a rule again (re-checked: it must still be able to fire)."""
    return await _set_enabled(request, pages, pool, principal, rule_id, True)


@router.post("/regles/{rule_id}/desactiver")
async def disable_rule(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, rule_id: RuleId
) -> Response:
    """Disable a rule: the engine stops evaluating it; it is kept."""
    return await _set_enabled(request, pages, pool, principal, rule_id, False)


@router.post("/regles/{rule_id}/supprimer")
async def delete_rule(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, rule_id: RuleId
) -> Response:
    """Delete a rule; its incidents stay and the engine resolves them."""
    try:
        await rule_routes.delete_rule(pool, rule_id)
    except NotFoundError:
        return af.not_found(request, pages, principal, f"La règle n° {rule_id}", "/admin/regles")
    await af.record(pool, principal, "deleted", f"/admin/regles/{rule_id}", {"method": "suppression"})
    return af.see("/admin/regles", "regle-supprimee")


# ---- catchments ---------------------------------------------------------------------------------


def _catchment_values(form: Form) -> dict[str, Any]:
    return {
        "id": form.get("id").strip(),
        "name": form.get("name"),
        "area_km2": form.get("area_km2"),
        "cn2": form.get("cn2"),
        "communes": form.getall("communes"),
        "stations": form.getall("stations"),
        "upstream": form.getall("upstream"),
    }


def _catchment_body(values: dict[str, Any], weights: dict[str, float]) -> dict[str, Any]:
    return af.without_blanks(
        {
            "name": af.text(values["name"]),
            "area_km2": af.number(values["area_km2"]),
            "cn2": af.number(values["cn2"]),
            "communes": values["communes"],
            "upstream": values["upstream"],
            # A gauge keeps the weight it had; a new one weighs 1 (the API sets others).
            "stations": [{"station_id": s, "weight": weights.get(s, 1.0)} for s in values["stations"]],
        }
    )


async def _choices(pool: Pool) -> dict[str, Any]:
    async with pool.connection() as conn:
        communes = await communes_queries.all_names(conn)
        stations = [
            (s["id"], f"{s['name']} ({s['id']})")
            for s in await stations_queries.list_with_status(conn)
            if s["active"]
        ]
        catchments = await catchments_queries.list_all(conn)
    return {"communes": communes, "station_options": stations, "catchments": catchments}


async def _catchments_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    *,
    template: str = "admin_catchments.html",
    catchment: dict[str, Any] | None = None,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    choices = await _choices(pool)
    names = dict(choices["communes"])
    for c in choices["catchments"]:
        c["commune_names"] = ", ".join(names.get(i, i) for i in c["communes"]) or "—"
    empty = {"id": "", "name": "", "area_km2": "", "cn2": "", "communes": [], "stations": [], "upstream": []}
    return pages.render(
        request,
        template,
        principal,
        status=status,
        catchment=catchment,
        error=error,
        errors=errors or {},
        form=form or empty,
        **choices,
    )


@router.get("/bassins")
async def catchments_page(request: Request, pages: PagesDep, pool: Pool, principal: Tech) -> Response:
    """Every catchment with its communes and gauges, and the form that creates one."""
    return await _catchments_page(request, pages, pool, principal)


@router.post("/bassins")
async def create_catchment(request: Request, pages: PagesDep, pool: Pool, principal: Tech) -> Response:
    """Create a catchment through the API's handler (communes, gauges, upstream checked)."""
    values = _catchment_values(await read_form(request))
    body = {"id": values["id"], **_catchment_body(values, {})}
    errors = field_errors(CatchmentIn, body)
    if errors:
        return await _catchments_page(
            request,
            pages,
            pool,
            principal,
            status=422,
            errors=errors,
            form=values,
            error="Le bassin n'a pas été créé : corrigez les champs signalés.",
        )
    try:
        await catchment_routes.create_catchment(pool, body)
    except af.HANDLER_ERRORS as exc:
        return await _catchments_page(
            request,
            pages,
            pool,
            principal,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(pool, principal, "catchment.created", f"/admin/bassins/{values['id']}")
    return af.see("/admin/bassins", "bassin")


def _catchment_form(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "area_km2": str(row["area_km2"]).replace(".", ","),
        "cn2": str(row["cn2"]).replace(".", ","),
        "communes": list(row["communes"]),
        "stations": [s["station_id"] for s in row["stations"]],
        "upstream": list(row["upstream"]),
    }


async def _catchment_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Principal, catchment_id: str, **extra: Any
) -> Response:
    try:
        row = (await catchment_routes.get_catchment(pool, catchment_id)).model_dump()
    except NotFoundError:
        return af.not_found(request, pages, principal, f"Le bassin « {catchment_id} »", "/admin/bassins")
    extra.setdefault("form", _catchment_form(row))
    return await _catchments_page(
        request, pages, pool, principal, template="admin_catchment.html", catchment=row, **extra
    )


@router.get("/bassins/{catchment_id}")
async def catchment_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, catchment_id: CatchmentId
) -> Response:
    """One catchment to edit or delete."""
    return await _catchment_page(request, pages, pool, principal, catchment_id)


@router.post("/bassins/{catchment_id}")
async def update_catchment(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, catchment_id: CatchmentId
) -> Response:
    """Change name, area, curve number, communes, gauges and upstream (polygon and Montana kept)."""
    values = {**_catchment_values(await read_form(request)), "id": catchment_id}
    try:
        stored = (await catchment_routes.get_catchment(pool, catchment_id)).model_dump()
    except NotFoundError:
        return af.not_found(request, pages, principal, f"Le bassin « {catchment_id} »", "/admin/bassins")
    weights = {s["station_id"]: float(s["weight"]) for s in stored["stations"]}
    body = _catchment_body(values, weights)
    errors = field_errors(CatchmentBody, body)
    refused = "Le bassin n'a pas été modifié : corrigez les champs signalés."
    if errors:
        return await _catchment_page(
            request,
            pages,
            pool,
            principal,
            catchment_id,
            status=422,
            error=refused,
            errors=errors,
            form=values,
        )
    try:
        await catchment_routes.patch_catchment(pool, catchment_id, body)
    except af.HANDLER_ERRORS as exc:
        return await _catchment_page(
            request,
            pages,
            pool,
            principal,
            catchment_id,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(pool, principal, "catchment.changed", f"/admin/bassins/{catchment_id}")
    return af.see(f"/admin/bassins/{catchment_id}", "bassin")


@router.post("/bassins/{catchment_id}/supprimer")
async def delete_catchment(
    request: Request, pages: PagesDep, pool: Pool, principal: Tech, catchment_id: CatchmentId
) -> Response:
    """Delete a catchment nothing refers to any more (otherwise the page says what does)."""
    try:
        await catchment_routes.delete_catchment(pool, catchment_id)
    except af.HANDLER_ERRORS as exc:
        if isinstance(exc, NotFoundError):
            return af.not_found(request, pages, principal, f"Le bassin « {catchment_id} »", "/admin/bassins")
        return await _catchment_page(
            request,
            pages,
            pool,
            principal,
            catchment_id,
            status=af.error_status(exc),
            error=af.error_text(exc),
        )
    await af.record(pool, principal, "deleted", f"/admin/bassins/{catchment_id}", {"method": "suppression"})
    return af.see("/admin/bassins", "bassin-supprime")
