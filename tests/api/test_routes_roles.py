"""Every route of the app declares its role through require(); none is left open by omission."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import SecretStr

from api.app import create_app
from api.auth import Role
from vigie.settings import ApiSettings, Settings

# FastAPI's own documentation routes stay mounted and public on purpose: they describe the API
# (no data), and every route they list still checks its role when called.
DOCS_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
ALERTS_PREFIXES = ("/api/v1/incidents", "/api/v1/rules", "/api/v1/catchments", "/api/v1/subscribers")
PUBLIC_ALERTS_READS = frozenset(
    {
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/{incident_id}"),
        ("GET", "/api/v1/catchments"),
        ("GET", "/api/v1/catchments/{catchment_id}"),
    }
)


@dataclass(frozen=True)
class Seen:
    """One mounted route as the app serves it (router prefixes and dependencies applied)."""

    path: str
    methods: frozenset[str]
    roles: frozenset[Role] | None  # None: not an API route (docs, static files)


def _roles(dependant: Dependant) -> set[Role]:
    """Roles named by require() anywhere in the route's dependency tree."""
    found = set()
    for dep in dependant.dependencies:
        role = getattr(dep.call, "vigie_role", None)
        if role is not None:
            found.add(role)
        found |= _roles(dep)
    return found


def _mounted() -> list[Seen]:
    # Building the app opens nothing (the pool is created in the lifespan): no database needed.
    settings = Settings(
        database_url=SecretStr("postgresql://nobody@127.0.0.1:1/none"),
        api=ApiSettings(admin_token=SecretStr("x" * 32)),
    )
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


def test_every_api_route_declares_a_role() -> None:
    api_routes = [s for s in _mounted() if s.roles is not None]
    missing = [f"{sorted(s.methods)} {s.path}" for s in api_routes if not s.roles]
    assert len(api_routes) > 20
    assert missing == [], f"routes sans require(Role.X) : {missing}"


def test_only_the_docs_are_outside_the_role_check() -> None:
    others = {s.path for s in _mounted() if s.roles is None}
    assert others <= DOCS_PATHS, others - DOCS_PATHS


def test_alerts_writes_and_secrets_are_admin_only() -> None:
    for s in _mounted():
        if s.roles is None or not s.path.startswith(ALERTS_PREFIXES):
            continue
        for method in s.methods:
            expected = Role.PUBLIC if (method, s.path) in PUBLIC_ALERTS_READS else Role.ADMIN
            assert s.roles == {expected}, (method, s.path, s.roles)
