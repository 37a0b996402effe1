"""The permission matrix: every route declares its roles through require(), the declaration
matches the table below, and every role (and anonymous) really gets in or gets 401/403.

A new route fails test_every_route_is_in_the_table until it is added here, with the roles a
reviewer can read and agree with."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth import Role
from tests.api.conftest import ROLES, bearer, role_token
from vigie.settings import Settings

# FastAPI's OpenAPI document and the static files stay outside the role check on purpose: they
# hold no data, and every route the document lists still checks its role when called.
UNCHECKED_PATHS = frozenset({"/openapi.json", "/static"})

P = frozenset({Role.PUBLIC})
ADMIN = frozenset({Role.ADMIN})
TECH = frozenset({Role.TECHNICIAN, Role.ADMIN})
DUTY = frozenset({Role.DUTY, Role.ADMIN})
STAFF = frozenset({Role.ADMIN, Role.TECHNICIAN, Role.DUTY, Role.VIEWER})
SIGNED_IN = frozenset({Role.ADMIN, Role.TECHNICIAN, Role.DUTY, Role.NATURALIST, Role.VIEWER})
REVIEW_READ = frozenset({Role.NATURALIST, Role.ADMIN, Role.VIEWER})
REVIEW_WRITE = frozenset({Role.NATURALIST, Role.ADMIN})

MATRIX: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/healthz"): P,
    ("GET", "/metrics"): TECH,
    # Gauges: read by the staff (officials read-only); device management comes with its issue.
    ("GET", "/api/v1/stations"): STAFF,
    ("GET", "/api/v1/stations/{station_id}"): STAFF,
    ("GET", "/api/v1/stations/{station_id}/rain"): STAFF,
    ("GET", "/api/v1/stations/{station_id}/readings"): STAFF,
    # Issue 10 §2: technicians manage gauges and their device accounts; the staff read health;
    # the maintenance list is for those who go out or send someone (technician, duty, admin).
    ("POST", "/api/v1/stations"): TECH,
    ("PATCH", "/api/v1/stations/{station_id}"): TECH,
    ("DELETE", "/api/v1/stations/{station_id}"): TECH,
    ("POST", "/api/v1/stations/{station_id}/credentials/rotate"): TECH,
    ("GET", "/api/v1/stations/{station_id}/health"): STAFF,
    ("GET", "/api/v1/maintenance"): frozenset({Role.TECHNICIAN, Role.ADMIN, Role.DUTY}),
    # api-readings: series and exports
    ("GET", "/api/v1/stations/{station_id}/series"): STAFF,
    ("GET", "/api/v1/stations/{station_id}/export.csv"): STAFF,
    ("GET", "/api/v1/stations/{station_id}/export.json"): STAFF,
    ("GET", "/api/v1/live"): STAFF,
    # Incidents: the public sees public ones; the person on duty acknowledges and reads the log.
    ("GET", "/api/v1/incidents"): P,
    ("GET", "/api/v1/incidents/{incident_id}"): P,
    ("POST", "/api/v1/incidents/{incident_id}/acknowledge"): DUTY,
    ("GET", "/api/v1/incidents/{incident_id}/deliveries"): DUTY,
    ("GET", "/api/v1/incidents/{incident_id}/deliveries.csv"): DUTY,
    ("GET", "/api/v1/incidents/{incident_id}/deliveries.pdf"): DUTY,
    ("GET", "/incidents/{incident_id}"): P,
    ("GET", "/api/v1/alerts/cap.atom"): P,
    ("GET", "/api/v1/alerts/{message_id}/cap.xml"): P,
    # Rules: configuration, read by the staff, written by technicians.
    ("GET", "/api/v1/rules"): STAFF,
    ("GET", "/api/v1/rules/{rule_id}"): STAFF,
    ("POST", "/api/v1/rules"): TECH,
    ("PUT", "/api/v1/rules/{rule_id}"): TECH,
    ("PATCH", "/api/v1/rules/{rule_id}"): TECH,
    ("DELETE", "/api/v1/rules/{rule_id}"): TECH,
    ("GET", "/api/v1/catchments"): P,
    ("GET", "/api/v1/catchments/{catchment_id}"): P,
    ("POST", "/api/v1/catchments"): TECH,
    ("PUT", "/api/v1/catchments/{catchment_id}"): TECH,
    ("PATCH", "/api/v1/catchments/{catchment_id}"): TECH,
    ("DELETE", "/api/v1/catchments/{catchment_id}"): TECH,
    # Subscribers are personal data: admin only.
    ("GET", "/api/v1/subscribers"): ADMIN,
    ("GET", "/api/v1/subscribers/{subscriber_id}"): ADMIN,
    ("POST", "/api/v1/subscribers"): ADMIN,
    ("PUT", "/api/v1/subscribers/{subscriber_id}"): ADMIN,
    ("PATCH", "/api/v1/subscribers/{subscriber_id}"): ADMIN,
    ("DELETE", "/api/v1/subscribers/{subscriber_id}"): ADMIN,
    ("POST", "/api/v1/subscribers/{subscriber_id}/test"): ADMIN,
    # Consignes: read by everyone (the public page), written by an admin for the mayor.
    ("GET", "/api/v1/instructions"): P,
    ("GET", "/api/v1/communes/{insee}/instructions"): P,
    ("PUT", "/api/v1/communes/{insee}/instructions/{level}"): ADMIN,
    ("DELETE", "/api/v1/communes/{insee}/instructions/{level}"): ADMIN,
    # The five-yearly PCS exercise.
    ("POST", "/api/v1/exercises"): ADMIN,
    ("GET", "/api/v1/exercises/{exercise_id}/report"): ADMIN,
    # Residents sign themselves up; the reach per commune and erasure on request are the admin's.
    ("POST", "/api/v1/signup"): P,
    ("POST", "/api/v1/signup/confirm"): P,
    ("POST", "/api/v1/signup/confirm-email"): P,
    ("POST", "/api/v1/signup/unsubscribe"): P,
    ("POST", "/api/v1/signup/erase"): P,
    ("POST", "/api/v1/signup/sms-inbound"): P,  # the SMS gateway, checked by its shared key
    ("GET", "/inscription/confirmer/{token}"): P,
    ("POST", "/inscription/confirmer/{token}"): P,
    ("GET", "/desinscription/{token}"): P,
    ("POST", "/desinscription/{token}"): P,
    ("GET", "/api/v1/residents/reach"): ADMIN,
    ("POST", "/api/v1/residents/erase"): ADMIN,
    # Accounts.
    ("GET", "/api/v1/me"): SIGNED_IN,
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/{user_id}"): ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/reset-password"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    # Pages.
    ("GET", "/"): P,
    ("GET", "/connexion"): P,
    ("POST", "/connexion"): P,
    ("POST", "/deconnexion"): SIGNED_IN,
    ("GET", "/compte"): SIGNED_IN,
    ("POST", "/compte/mot-de-passe"): SIGNED_IN,
    ("GET", "/admin/utilisateurs"): ADMIN,
    ("POST", "/admin/utilisateurs"): ADMIN,
    ("GET", "/admin/utilisateurs/{user_id}"): ADMIN,
    ("POST", "/admin/utilisateurs/{user_id}/roles"): ADMIN,
    ("POST", "/admin/utilisateurs/{user_id}/mot-de-passe"): ADMIN,
    ("POST", "/admin/utilisateurs/{user_id}/desactiver"): ADMIN,
    ("POST", "/admin/utilisateurs/{user_id}/reactiver"): ADMIN,
    ("GET", "/admin/jetons"): ADMIN,
    ("POST", "/admin/jetons"): ADMIN,
    ("POST", "/admin/jetons/{token_id}/revoquer"): ADMIN,
    ("GET", "/admin/journal"): ADMIN,
    # The public vigilance page and its sign-up form (no sign-in).
    ("GET", "/vigilance"): P,
    ("GET", "/vigilance/etat.json"): P,
    ("GET", "/vigilance/contours.geojson"): P,
    ("POST", "/vigilance/inscription"): P,
    ("POST", "/vigilance/inscription/code"): P,
    # The API's documentation page (Swagger UI on the public /openapi.json).
    ("GET", "/docs"): P,
    # web-stations: the technicians' pages (the maintenance round as the API's list).
    ("GET", "/carte"): STAFF,
    ("GET", "/carte/etat.json"): STAFF,
    ("GET", "/stations/{station_id}"): STAFF,
    ("GET", "/maintenance"): frozenset({Role.TECHNICIAN, Role.DUTY, Role.ADMIN}),
    # web-admin: the admin pages call the API's handlers, with the API's roles.
    ("GET", "/admin"): TECH,
    ("GET", "/admin/stations"): TECH,
    ("POST", "/admin/stations"): TECH,
    ("GET", "/admin/stations/{station_id}"): TECH,
    ("POST", "/admin/stations/{station_id}"): TECH,
    ("POST", "/admin/stations/{station_id}/mot-de-passe"): TECH,
    ("GET", "/admin/stations/{station_id}/retirer"): TECH,
    ("POST", "/admin/stations/{station_id}/retirer"): TECH,
    ("GET", "/admin/regles"): TECH,
    ("POST", "/admin/regles"): TECH,
    ("GET", "/admin/regles/{rule_id}"): TECH,
    ("POST", "/admin/regles/{rule_id}"): TECH,
    ("POST", "/admin/regles/{rule_id}/activer"): TECH,
    ("POST", "/admin/regles/{rule_id}/desactiver"): TECH,
    ("POST", "/admin/regles/{rule_id}/supprimer"): TECH,
    ("GET", "/admin/bassins"): TECH,
    ("POST", "/admin/bassins"): TECH,
    ("GET", "/admin/bassins/{catchment_id}"): TECH,
    ("POST", "/admin/bassins/{catchment_id}"): TECH,
    ("POST", "/admin/bassins/{catchment_id}/supprimer"): TECH,
    ("GET", "/admin/abonnes"): ADMIN,
    ("POST", "/admin/abonnes"): ADMIN,
    ("POST", "/admin/abonnes/{subscriber_id}/supprimer"): ADMIN,
    ("POST", "/admin/abonnes/{subscriber_id}/test"): ADMIN,
    ("GET", "/admin/abonnes/portee"): ADMIN,
    ("GET", "/admin/consignes"): ADMIN,
    ("GET", "/admin/consignes/{insee}"): ADMIN,
    ("POST", "/admin/consignes/{insee}/{level}"): ADMIN,
    ("POST", "/admin/consignes/{insee}/{level}/defaut"): ADMIN,
    ("GET", "/admin/exercices"): ADMIN,
    ("POST", "/admin/exercices"): ADMIN,
    ("GET", "/admin/exercices/{exercise_id}"): ADMIN,
    # web-duty: the person on duty's pages; officials and technicians read them (the full view
    # of the incidents API), only duty and admin acknowledge, as in the API.
    ("GET", "/astreinte"): STAFF,
    ("GET", "/astreinte/incidents/{incident_id}"): STAFF,
    ("POST", "/astreinte/incidents/{incident_id}/prise-en-compte"): DUTY,
    # review-api (issue 11 §1): naturalists review, elected officials (viewer) read.
    ("GET", "/api/v1/events"): REVIEW_READ,
    ("GET", "/api/v1/events/{event_id}"): REVIEW_READ,
    ("PATCH", "/api/v1/events/{event_id}"): REVIEW_WRITE,
    ("POST", "/api/v1/bulk/events"): REVIEW_WRITE,
    ("GET", "/api/v1/events/{event_id}/clip"): REVIEW_READ,
    ("GET", "/api/v1/events/{event_id}/snapshot"): REVIEW_READ,
    ("GET", "/api/v1/events/{event_id}/thumbnail"): REVIEW_READ,
    ("GET", "/api/v1/events/{event_id}/poster"): REVIEW_READ,
    # people in the frame: the blurred rendition an export with people links to.
    ("GET", "/api/v1/events/{event_id}/blurred-clip"): REVIEW_WRITE,
    ("GET", "/api/v1/events/{event_id}/observations"): REVIEW_READ,
    ("POST", "/api/v1/events/{event_id}/observations"): REVIEW_WRITE,
    ("GET", "/api/v1/observations/{observation_id}"): REVIEW_READ,
    ("PATCH", "/api/v1/observations/{observation_id}"): REVIEW_WRITE,
    ("DELETE", "/api/v1/observations/{observation_id}"): REVIEW_WRITE,
    ("GET", "/api/v1/observations/{observation_id}/history"): REVIEW_READ,
    ("POST", "/api/v1/observations/{observation_id}/validation"): REVIEW_WRITE,
    ("GET", "/api/v1/deployments"): REVIEW_READ,
    ("GET", "/api/v1/deployments/{deployment_id}"): REVIEW_READ,
    ("POST", "/api/v1/deployments"): REVIEW_WRITE,
    ("PATCH", "/api/v1/deployments/{deployment_id}"): REVIEW_WRITE,
    ("DELETE", "/api/v1/deployments/{deployment_id}"): REVIEW_WRITE,
    ("GET", "/api/v1/species"): REVIEW_READ,
    # bench-api: every station's recent rain, for the map.
    ("GET", "/api/v1/rain/recent"): STAFF,
    # review-web (issue 11 §2): the review pages, with the review API's roles.
    ("GET", "/revue"): REVIEW_READ,
    ("POST", "/revue/lot"): REVIEW_WRITE,
    ("GET", "/revue/evenements/{event_id}"): REVIEW_READ,
    ("POST", "/revue/evenements/{event_id}/etat"): REVIEW_WRITE,
    ("POST", "/revue/evenements/{event_id}/observations"): REVIEW_WRITE,
    ("POST", "/revue/observations/{observation_id}/validation"): REVIEW_WRITE,
    ("GET", "/revue/statistiques"): REVIEW_READ,
    # camtrap (issue 11 §1): exporting is the naturalists' (and admins'); the summary is read.
    ("GET", "/api/v1/camtrap-dp.zip"): REVIEW_WRITE,
    ("GET", "/api/v1/species-summary"): REVIEW_READ,
    # reviewbench (issue 11 §2): the export page, as the export it links to.
    ("GET", "/revue/export"): REVIEW_WRITE,
    # reviewbench: a species' reference frame is chosen by those who review, seen by readers.
    ("PUT", "/api/v1/species-references"): REVIEW_WRITE,
    ("GET", "/api/v1/species-references"): REVIEW_READ,
    ("GET", "/api/v1/events/{event_id}/frame"): REVIEW_READ,
    ("POST", "/revue/evenements/{event_id}/reference"): REVIEW_WRITE,
    # cameras (issue 11 §1): admins manage cameras and masks; the review's readers see them.
    ("GET", "/api/v1/cameras"): REVIEW_READ,
    ("POST", "/api/v1/cameras"): ADMIN,
    ("GET", "/api/v1/cameras/{camera_id}"): REVIEW_READ,
    ("PATCH", "/api/v1/cameras/{camera_id}"): ADMIN,
    ("DELETE", "/api/v1/cameras/{camera_id}"): ADMIN,
    ("GET", "/api/v1/cameras/{camera_id}/health"): REVIEW_READ,
    ("GET", "/api/v1/cameras/{camera_id}/snapshot.jpg"): REVIEW_READ,
    ("GET", "/api/v1/cameras/{camera_id}/masks"): REVIEW_READ,
    ("PUT", "/api/v1/cameras/{camera_id}/masks"): ADMIN,
    ("GET", "/admin/cameras"): ADMIN,
    ("POST", "/admin/cameras"): ADMIN,
    ("GET", "/admin/cameras/{camera_id}"): ADMIN,
    ("POST", "/admin/cameras/{camera_id}"): ADMIN,
    ("POST", "/admin/cameras/{camera_id}/masques"): ADMIN,
}

# Path parameters that name nothing, so an allowed call changes nothing (404 or 422 at most).
SAMPLE_PARAMS = {"station_id": "inconnue", "catchment_id": "inconnu", "message_id": "999999"}


@dataclass(frozen=True)
class Seen:
    """One mounted route as the app serves it (router prefixes and dependencies applied)."""

    path: str
    methods: frozenset[str]
    roles: frozenset[Role] | None  # None: not an API route (OpenAPI document, static files)


def _roles(dependant: Dependant) -> set[Role]:
    """Roles named by require() anywhere in the route's dependency tree."""
    found: set[Role] = set()
    for dep in dependant.dependencies:
        found |= getattr(dep.call, "vigie_roles", frozenset())
        found |= _roles(dep)
    return found


def _mounted() -> list[Seen]:
    # Building the app opens nothing (the pool is created in the lifespan): no database needed.
    settings = Settings(database_url=SecretStr("postgresql://nobody@127.0.0.1:1/none"))
    seen = []
    # Included routers are resolved lazily; iter_route_contexts yields the effective routes.
    for ctx in iter_route_contexts(create_app(settings).routes):
        is_api = isinstance(ctx.original_route, APIRoute)
        seen.append(
            Seen(
                path=str(ctx.path),
                methods=frozenset(ctx.methods or ()),
                roles=frozenset(_roles(ctx.dependant)) if is_api else None,
            )
        )
    return seen


def _declared() -> dict[tuple[str, str], frozenset[Role]]:
    return {(m, s.path): s.roles for s in _mounted() if s.roles is not None for m in s.methods}


def test_every_api_route_declares_a_role() -> None:
    declared = _declared()
    missing = [f"{m} {p}" for (m, p), roles in declared.items() if not roles]
    assert len(declared) > 50
    assert missing == [], f"routes sans require(Role.X) : {missing}"


def test_only_the_openapi_document_and_static_files_are_outside_the_role_check() -> None:
    others = {s.path for s in _mounted() if s.roles is None}
    assert others <= UNCHECKED_PATHS, others - UNCHECKED_PATHS


def test_every_route_is_in_the_table_with_the_roles_it_declares() -> None:
    declared = _declared()
    new = sorted(set(declared) - set(MATRIX))
    assert new == [], f"routes absentes de MATRIX (ajoutez-les avec leurs rôles) : {new}"
    gone = sorted(set(MATRIX) - set(declared))
    assert gone == [], f"routes de MATRIX qui n'existent plus : {gone}"
    differ = {k: (sorted(declared[k]), sorted(MATRIX[k])) for k in MATRIX if declared[k] != MATRIX[k]}
    assert differ == {}, differ


# Public as far as roles go, but each checks a shared key of its own that no role holds.
OWN_KEY = frozenset({("POST", "/api/v1/signup/sms-inbound")})


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "999999"), path)


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
def test_each_role_is_let_in_or_refused_on_every_route(client: TestClient, who: str) -> None:
    """Called for real: an allowed caller never gets 401/403; a refused one gets exactly
    401 (anonymous) or 403 (signed in, wrong role)."""
    headers = {} if who == "anonymous" else bearer(role_token(who))
    wrong = []
    for (method, path), allowed in sorted(MATRIX.items()):
        body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
        # api-readings: the live stream never ends; an unknown station answers 404 after the role check.
        url = _url(path) + ("?station=999999" if path == "/api/v1/live" else "")
        r = client.request(method, url, headers=headers, json=body, follow_redirects=False)
        if (method, path) in OWN_KEY:
            ok = r.status_code == 401  # no role opens it: only the gateway's shared key
        elif Role.PUBLIC in allowed or (who != "anonymous" and Role(who) in allowed):
            ok = r.status_code not in (401, 403)
        else:
            ok = r.status_code == (401 if who == "anonymous" else 403)
        if not ok:
            wrong.append(f"{method} {path}: {r.status_code}")
    assert wrong == [], f"{who} : {wrong}"


def test_a_role_removed_from_its_user_leaves_the_token_too(client: TestClient, database_url: str) -> None:
    """A token's roles are narrowed to those its user still holds, at every request."""
    tech = bearer(role_token("technician"))
    assert client.get("/metrics", headers=tech).status_code == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET roles = '{viewer}' WHERE login = 'technician'")
    assert client.get("/metrics", headers=tech).status_code == 403
    assert client.get("/api/v1/stations", headers=tech).status_code == 403
