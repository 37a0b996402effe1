"""The OpenAPI document, completed: one error shape, every error status, honest security.

FastAPI documents its own 422 list (which Vigie never answers) and marks every route as needing
the bearer token, because the auth dependency reads it on every route. This module rewrites the
generated document once: ErrorResponse for every error status a route can answer, and public
routes marked as usable without a token (a wrong token is still refused: 401).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.utils import deep_dict_update
from pydantic import BaseModel

from api.auth import Role
from api.schemas.errors import ErrorResponse, error_responses

_REF = "#/components/schemas/{model}"
_ERROR_REF = "#/components/schemas/ErrorResponse"
_BODY_METHODS = frozenset({"post", "put", "patch"})


def route_roles(dependant: Dependant) -> set[Role]:
    """Roles named by require() anywhere in the route's dependency tree."""
    found: set[Role] = set()
    for dep in dependant.dependencies:
        found |= getattr(dep.call, "vigie_roles", frozenset())
        found |= route_roles(dep)
    return found


def api_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], APIRoute, Dependant]]:
    """(full path, methods, route, effective dependant) of every API route as mounted."""
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute) and ctx.path is not None:
            yield str(ctx.path), frozenset(ctx.methods or ()), route, ctx.dependant


# Bodies declared by json_body, by the key their routes' openapi_extra names: their JSON schema
# is made with the document, not at import (23 schemas, ~5 % of the API's start-up CPU).
_BODIES: dict[str, tuple[type[BaseModel], bool]] = {}
_BODY_KEY = "x-vigie-json-body"


def json_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the handler parses itself as `model`.

    Handlers that take the body as a plain object (to word every refusal in French, or to merge
    a patch) declare with this what the body really is."""
    key = f"{model.__module__}.{model.__qualname__}:{'required' if required else 'optional'}"
    _BODIES[key] = (model, required)
    return {_BODY_KEY: key}


def _body_of(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The requestBody and the $defs of a body declared by json_body, in the shape FastAPI gives
    what openapi_extra carries (through its OpenAPI models, no nulls): the same document as when
    these were built at import."""
    model, required = _BODIES[key]
    schema = model.model_json_schema(ref_template=_REF)
    defs = schema.pop("$defs", {})
    operation = {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}},
        "responses": {},
    }
    doc = OpenAPI.model_validate(
        {"openapi": "3.1.0", "info": {"title": "", "version": ""}, "paths": {"/": {"post": operation}}}
    )
    out = jsonable_encoder(doc, by_alias=True, exclude_none=True)["paths"]["/"]["post"]
    return out["requestBody"], jsonable_encoder(defs, by_alias=True, exclude_none=True)


def _error_codes(operation: dict[str, Any], method: str, public: bool) -> list[int]:
    params = operation.get("parameters", [])
    codes = [401]  # no token on a protected route, or a wrong token on any route
    if not public:
        codes.append(403)
    if any(p.get("in") == "path" for p in params):
        codes.append(404)
    if method in _BODY_METHODS or "requestBody" in operation:
        codes += [400, 413]  # 400: a body that is not even UTF-8 JSON
    if params or "requestBody" in operation:
        codes.append(422)
    return codes


def _complete(operation: dict[str, Any], method: str, public: bool) -> None:
    responses = operation.setdefault("responses", {})
    for code, entry in error_responses(*_error_codes(operation, method, public)).items():
        key = str(code)
        if key == "422" or key not in responses:  # FastAPI's own 422 is not what Vigie answers
            responses[key] = {
                "description": entry["description"],
                "content": {
                    "application/json": {
                        "schema": {"$ref": _ERROR_REF},
                        "example": entry["content"]["application/json"]["example"],
                    }
                },
            }
    for key, response in responses.items():
        # Errors declared by a route with model=ErrorResponse keep their own description.
        if key.startswith(("4", "5")) and "content" not in response:
            response["content"] = {"application/json": {"schema": {"$ref": _ERROR_REF}}}
    if public and operation.get("security"):
        # {} first: the route works without credentials (OpenAPI's "optional security").
        operation["security"] = [{}, *operation["security"]]


def install(app: FastAPI) -> None:
    """Replace app.openapi with the completed document (built once, on first use)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = FastAPI.openapi(app)
        public = {
            (method.lower(), path)
            for path, methods, _route, dependant in api_routes(app)
            if Role.PUBLIC in route_roles(dependant)
            for method in methods
        }
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas["ErrorResponse"] = ErrorResponse.model_json_schema(ref_template=_REF)
        for path, item in doc.get("paths", {}).items():
            for method, operation in item.items():
                key = operation.pop(_BODY_KEY, None)
                if key is not None:
                    body, defs = _body_of(str(key))
                    # Merged into FastAPI's own (a plain-object body), as openapi_extra was.
                    deep_dict_update(operation, {"requestBody": body})
                    schemas.update(defs)
                _complete(operation, method, (method, path) in public)
        app.openapi_schema = doc
        return doc

    app.openapi = document  # type: ignore[method-assign]
