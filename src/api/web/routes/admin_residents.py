"""Admin pages of who is warned and what they are told: subscribers (with the test send), the
residents' reach per commune, the consignes per commune and level, and the PCS exercises.

Every action goes through the API's own handler (api.routes.subscribers, signup.reach,
instructions, exercises): same validation, same French reasons, same test send. Channel URLs are
secrets: the list shows them masked, as the API does. Roles: admin, as the API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api import route_roles
from api.auth import Principal, Role, require_page
from api.deps import Pool
from api.forms import Form, read_form
from api.queries import incidents as incident_queries
from api.routes import exercises as exercise_routes
from api.routes import instructions as instruction_routes
from api.routes import signup as signup_routes
from api.routes import subscribers as subscriber_routes
from api.validation import field_errors
from api.web import admin_forms as af
from api.web.templates import PagesDep
from vigie import communes_queries, exercises_queries
from vigie.errors import NotFoundError
from vigie.exercises import ExerciseIn, SyntheticStorm
from vigie.ids import BIGINT_MAX
from vigie.instructions import KEYS, SMS_MAX, TEXT_MAX, InstructionIn
from vigie.subscribers import SubscriberIn

router = APIRouter(prefix="/admin", tags=["pages"], include_in_schema=False)
Admin = Annotated[Principal, require_page(Role.ADMIN)]
Residents = Annotated[Principal, require_page(route_roles.RESIDENTS_ADMIN)]
Instructions = Annotated[Principal, require_page(route_roles.INSTRUCTIONS_WRITE)]
Exercises = Annotated[Principal, require_page(route_roles.EXERCISES)]
RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Insee = Annotated[str, Path(pattern=r"^[0-9][0-9AB][0-9]{3}$")]
Key = Annotated[Literal["yellow", "orange", "red", "end"], Path()]

LEVEL_OPTIONS = [("yellow", "jaune et plus"), ("orange", "orange et rouge"), ("red", "rouge seulement")]
KIND_OPTIONS = [("sms", "SMS"), ("email", "e-mail"), ("webhook", "webhook")]
AUDIENCE_OPTIONS = [("public", "public"), ("technicians", "techniciens")]
CHANNEL_ROWS = 2
KEY_FR = {
    "yellow": "Vigilance jaune",
    "orange": "Vigilance orange",
    "red": "Vigilance rouge",
    "end": "Fin d'alerte",
}


# ---- subscribers --------------------------------------------------------------------------------


def _subscriber_values(form: Form) -> dict[str, Any]:
    return {
        "name": form.get("name"),
        "communes": form.getall("communes"),
        "min_level": form.get("min_level"),
        "audience": form.get("audience"),
        "exercises": form.get("exercises") == "oui",
        "channels": [(form.get(f"kind{i}"), form.get(f"url{i}").strip()) for i in range(CHANNEL_ROWS)],
    }


def _subscriber_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        **af.without_blanks(
            {
                "name": af.text(values["name"]),
                "min_level": af.text(values["min_level"]),
                "audience": af.text(values["audience"]),
            }
        ),
        "communes": values["communes"],
        "exercises": values["exercises"],
        "channels": [{"kind": k, "url": u} for k, u in values["channels"] if u],
    }


async def _subscribers_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    top_error: str | None = None,
) -> Response:
    subscribers = await subscriber_routes.list_subscribers(pool)
    async with pool.connection() as conn:
        communes = await communes_queries.all_names(conn)
    names = dict(communes)
    empty = {
        "name": "",
        "communes": [],
        "min_level": "yellow",
        "audience": "public",
        "exercises": False,
        "channels": [("sms", ""), ("email", "")],
    }
    return pages.render(
        request,
        "admin_subscribers.html",
        principal,
        status=status,
        subscribers=subscribers,
        commune_names=names,
        communes=communes,
        error=error,
        errors=errors or {},
        form=form or empty,
        levels=LEVEL_OPTIONS,
        kinds=KIND_OPTIONS,
        audiences=AUDIENCE_OPTIONS,
        top_error=top_error,
    )


@router.get("/abonnes")
async def subscribers_page(request: Request, pages: PagesDep, pool: Pool, principal: Admin) -> Response:
    """Every subscriber, contact masked, with the test send; the form that adds one."""
    return await _subscribers_page(request, pages, pool, principal)


@router.post("/abonnes")
async def create_subscriber(request: Request, pages: PagesDep, pool: Pool, principal: Admin) -> Response:
    """Add a subscriber through the API's handler (communes must exist, channels fit their kind)."""
    values = _subscriber_values(await read_form(request))
    body = _subscriber_body(values)
    errors = field_errors(SubscriberIn, body)
    if errors:
        return await _subscribers_page(
            request,
            pages,
            pool,
            principal,
            status=422,
            errors=errors,
            form=values,
            error="L'abonné n'a pas été ajouté : corrigez les champs signalés.",
        )
    try:
        created = await subscriber_routes.create_subscriber(pool, body)
    except af.HANDLER_ERRORS as exc:
        return await _subscribers_page(
            request,
            pages,
            pool,
            principal,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(pool, principal, "subscriber.created", f"/admin/abonnes/{created.id}")
    return af.see("/admin/abonnes", "abonne")


@router.post("/abonnes/{subscriber_id}/supprimer")
async def delete_subscriber(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, subscriber_id: RowId
) -> Response:
    """Delete a subscriber (and its deliveries, as the API's DELETE)."""
    try:
        await subscriber_routes.delete_subscriber(pool, subscriber_id)
    except NotFoundError:
        return af.not_found(request, pages, principal, f"L'abonné n° {subscriber_id}", "/admin/abonnes")
    await af.record(pool, principal, "deleted", f"/admin/abonnes/{subscriber_id}", {"method": "suppression"})
    return af.see("/admin/abonnes", "abonne-supprime")


@router.post("/abonnes/{subscriber_id}/test")
async def test_send(
    request: Request, pages: PagesDep, pool: Pool, principal: Admin, subscriber_id: RowId
) -> Response:
    """Queue one test message per channel (POST /api/v1/subscribers/{id}/test); the notifier sends."""
    try:
        queued = await subscriber_routes.test_send(pool, subscriber_id, principal)
    except af.HANDLER_ERRORS as exc:
        if isinstance(exc, NotFoundError):
            return af.not_found(request, pages, principal, f"L'abonné n° {subscriber_id}", "/admin/abonnes")
        return await _subscribers_page(
            request, pages, pool, principal, status=af.error_status(exc), top_error=af.error_text(exc)
        )
    await af.record(
        pool,
        principal,
        "subscriber.test",
        f"/admin/abonnes/{subscriber_id}",
        {"messages": len(queued.deliveries)},
    )
    # Post-redirect-get: reloading the page must not send the test again.
    return af.see("/admin/abonnes", "test-envoye")


# ---- reach per commune --------------------------------------------------------------------------

SORTS = {
    "commune": lambda r: r["name"],
    "population": lambda r: r["population"],
    "inscrits": lambda r: r["subscribed"],
    "part": lambda r: r["percent"] if r["percent"] is not None else -1.0,
}


@router.get("/abonnes/portee")
async def reach_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Residents,
    tri: Annotated[Literal["commune", "population", "inscrits", "part"], Query()] = "part",
    ordre: Annotated[Literal["croissant", "decroissant"], Query()] = "decroissant",
) -> Response:
    """Per commune, residents subscribed (confirmed) against its population, sortable."""
    rows = [r.model_dump() for r in await signup_routes.reach(pool)]
    for r in rows:
        pop = r["population"]
        r["percent"] = round(100 * r["subscribed"] / pop, 2) if pop else None
    rows.sort(key=SORTS[tri], reverse=ordre == "decroissant")
    total_pop = sum(r["population"] for r in rows)
    total_sub = sum(r["subscribed"] for r in rows)
    return pages.render(
        request,
        "admin_reach.html",
        principal,
        rows=rows,
        tri=tri,
        ordre=ordre,
        total_population=total_pop,
        total_subscribed=total_sub,
        total_percent=round(100 * total_sub / total_pop, 2) if total_pop else None,
    )


# ---- consignes ----------------------------------------------------------------------------------


@router.get("/consignes")
async def instructions_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Instructions
) -> Response:
    """Every commune, with which of its consignes are its own and which the defaults."""
    every = await instruction_routes.list_instructions(pool)
    async with pool.connection() as conn:
        names = dict(await communes_queries.all_names(conn))
    rows = sorted(
        ({"insee": c.insee, "name": names.get(c.insee, c.insee), "items": c.instructions} for c in every),
        key=lambda r: str(r["name"]),
    )
    return pages.render(request, "admin_instructions.html", principal, rows=rows, key_fr=KEY_FR)


async def _commune_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    insee: str,
    *,
    status: int = 200,
    error_key: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    try:
        found = await instruction_routes.commune_instructions(pool, insee)
    except NotFoundError:
        return af.not_found(request, pages, principal, f"La commune {insee}", "/admin/consignes")
    async with pool.connection() as conn:
        name = dict(await communes_queries.all_names(conn)).get(insee, insee)
    return pages.render(
        request,
        "admin_commune_instructions.html",
        principal,
        status=status,
        insee=insee,
        name=name,
        items=found.instructions,
        key_fr=KEY_FR,
        error_key=error_key,
        error=error,
        errors=errors or {},
        typed=typed or {},
        text_max=TEXT_MAX,
        sms_max=SMS_MAX,
    )


@router.get("/consignes/{insee}")
async def commune_instructions_page(
    request: Request, pages: PagesDep, pool: Pool, principal: Instructions, insee: Insee
) -> Response:
    """One commune's four consignes, each to edit or to reset to the default."""
    return await _commune_page(request, pages, pool, principal, insee)


@router.post("/consignes/{insee}/{level}")
async def put_instruction(
    request: Request, pages: PagesDep, pool: Pool, principal: Instructions, insee: Insee, level: Key
) -> Response:
    """Write the commune's own consigne for one level."""
    form = await read_form(request)
    typed = {"text": form.get("text"), "sms": form.get("sms")}
    errors = field_errors(InstructionIn, typed)
    if errors:
        return await _commune_page(
            request,
            pages,
            pool,
            principal,
            insee,
            status=422,
            error_key=level,
            errors=errors,
            typed=typed,
            error="La consigne n'a pas été enregistrée : corrigez les champs signalés.",
        )
    try:
        await instruction_routes.put_instruction(pool, insee, level, typed, principal)
    except af.HANDLER_ERRORS as exc:
        if isinstance(exc, NotFoundError):
            return af.not_found(request, pages, principal, f"La commune {insee}", "/admin/consignes")
        return await _commune_page(
            request,
            pages,
            pool,
            principal,
            insee,
            status=af.error_status(exc),
            error_key=level,
            error=af.error_text(exc),
            typed=typed,
        )
    await af.record(pool, principal, "instruction.changed", f"/admin/consignes/{insee}/{level}")
    return af.see(f"/admin/consignes/{insee}", "consigne")


@router.post("/consignes/{insee}/{level}/defaut")
async def reset_instruction(
    request: Request, pages: PagesDep, pool: Pool, principal: Instructions, insee: Insee, level: Key
) -> Response:
    """Back to the default consigne for this level."""
    try:
        await instruction_routes.reset_instruction(pool, insee, level)
    except NotFoundError:
        return af.not_found(request, pages, principal, f"La commune {insee}", "/admin/consignes")
    await af.record(pool, principal, "instruction.reset", f"/admin/consignes/{insee}/{level}")
    return af.see(f"/admin/consignes/{insee}", "consigne-defaut")


# ---- exercises ----------------------------------------------------------------------------------

LEVEL_WORDS = {
    "jaune": "yellow",
    "yellow": "yellow",
    "orange": "orange",
    "rouge": "red",
    "red": "red",
    "fin": None,
}
DEFAULT_STEPS = "0 jaune 12\n10 orange 25\n20 rouge 40\n30 fin"
MAX_STEP_LINES = 40


def parse_steps(text: str) -> list[dict[str, Any]] | str:
    """'minutes niveau [mesure]' per line ('0 jaune 12', …, '30 fin') as the storm's steps;
    a French reason when a line cannot be read (the model checks the rest)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > MAX_STEP_LINES:
        return f"au plus {MAX_STEP_LINES} lignes"
    steps: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) not in (2, 3) or parts[1].lower() not in LEVEL_WORDS:
            return f"ligne {n} : « minutes niveau [mesure] » attendu, niveau jaune, orange, rouge ou fin"
        minutes, value = af.number(parts[0]), af.number(parts[2]) if len(parts) == 3 else None
        if not isinstance(minutes, float) or not 0 <= minutes <= 7 * 24 * 60:
            return f"ligne {n} : minutes entre 0 et {7 * 24 * 60} attendues"
        if isinstance(value, str):
            return f"ligne {n} : la mesure doit être un nombre"
        steps.append({"after_s": round(minutes * 60), "level": LEVEL_WORDS[parts[1].lower()], "value": value})
    return steps


def _exercise_values(form: Form) -> dict[str, Any]:
    return {
        "name": form.get("name"),
        "source": form.get("source"),
        "incident_id": form.get("incident_id"),
        "title": form.get("title"),
        "communes": form.getall("communes"),
        "steps": form.get("steps"),
        "speed": form.get("speed"),
        "start_in_min": form.get("start_in_min"),
    }


def _exercise_body(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    start_in = af.number(values["start_in_min"])
    body: dict[str, Any] = af.without_blanks(
        {
            "name": af.text(values["name"]),
            "speed": af.number(values["speed"]),
            "start_in_s": round(start_in * 60) if isinstance(start_in, float) else start_in,
        }
    )
    if values["source"] == "incident":
        body["incident_id"] = af.integer(values["incident_id"])
        if body["incident_id"] is None:
            errors["incident_id"] = "choisissez l'incident à rejouer"
    else:
        steps = parse_steps(values["steps"])
        if isinstance(steps, str):
            errors["steps"] = steps
            steps = []
        storm = af.without_blanks(
            {"title": af.text(values["title"]), "communes": values["communes"], "steps": steps}
        )
        for key, reason in field_errors(SyntheticStorm, storm).items():
            if not (key == "steps" and "steps" in errors):
                errors[key or "steps"] = reason
        body["synthetic"] = storm
    for key, reason in field_errors(ExerciseIn, body).items():
        if key not in ("synthetic", ""):
            errors["start_in_min" if key == "start_in_s" else key] = reason
    return body, errors


async def _exercises_page(
    request: Request,
    pages: PagesDep,
    pool: Pool,
    principal: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    async with pool.connection() as conn:
        exercises = await exercises_queries.recent(conn)
        communes = await communes_queries.all_names(conn)
        _, found = await incident_queries.page(
            conn, incident_queries.IncidentFilter(), full=True, limit=50, offset=0
        )
    incidents = [i for i in found if i["exercise_id"] is None]
    empty = {
        "name": "",
        "source": "synthetic",
        "incident_id": "",
        "title": "Cumul 1 h — orage simulé",
        "communes": [],
        "steps": DEFAULT_STEPS,
        "speed": "1",
        "start_in_min": "0",
    }
    return pages.render(
        request,
        "admin_exercises.html",
        principal,
        status=status,
        exercises=exercises,
        incidents=incidents,
        communes=communes,
        error=error,
        errors=errors or {},
        form=form or empty,
    )


@router.get("/exercices")
async def exercises_page(request: Request, pages: PagesDep, pool: Pool, principal: Exercises) -> Response:
    """The exercises played so far, and the form that starts one."""
    return await _exercises_page(request, pages, pool, principal)


@router.post("/exercices")
async def start_exercise(request: Request, pages: PagesDep, pool: Pool, principal: Exercises) -> Response:
    """Start an exercise through the API's handler: a past incident replayed, or a synthetic storm."""
    values = _exercise_values(await read_form(request))
    body, errors = _exercise_body(values)
    if errors:
        return await _exercises_page(
            request,
            pages,
            pool,
            principal,
            status=422,
            errors=errors,
            form=values,
            error="L'exercice n'a pas été lancé : corrigez les champs signalés.",
        )
    try:
        created = await exercise_routes.start_exercise(pool, body, principal)
    except af.HANDLER_ERRORS as exc:
        return await _exercises_page(
            request,
            pages,
            pool,
            principal,
            status=af.error_status(exc),
            error=af.error_text(exc),
            form=values,
        )
    await af.record(
        pool, principal, "exercise.started", f"/admin/exercices/{created.id}", {"etapes": created.steps}
    )
    return af.see(f"/admin/exercices/{created.id}", "exercice")


@router.get("/exercices/{exercise_id}")
async def exercise_report(
    request: Request, pages: PagesDep, pool: Pool, principal: Exercises, exercise_id: RowId
) -> Response:
    """An exercise's report: each step, and how long each hop took."""
    try:
        report = await exercise_routes.exercise_report(pool, exercise_id)
    except NotFoundError:
        return af.not_found(request, pages, principal, f"L'exercice n° {exercise_id}", "/admin/exercices")
    return pages.render(request, "admin_exercise.html", principal, report=report, keys=KEYS)
