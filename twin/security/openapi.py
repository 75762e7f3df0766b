"""Write each route's permission, and the errors every route may answer, into the OpenAPI document.

Every operation of ``/api/openapi.json`` gets ``x-hyperviseur-permission: {"group": ..., "session": bool}``,
read from the ``require(...)`` dependency of its route (``twin.security.deps.require`` marks the function it
returns with ``permission_group`` and ``requires_session``), wherever it sits: on the route, on its router or
deeper in the dependency tree. A route without such a dependency belongs to ``Group.PUBLIC`` and needs no
session: every role may call it (layer rules still apply inside). ``tests/security/test_route_walk.py`` calls
every operation as every role and checks the answer against this annotation and the permission matrix.

The error answers that come from the application's shared machinery are documented on each operation too,
as RFC 9457 problem details (``twin.app``'s one error handler): 400 instead of FastAPI's 422 (our validation
handler answers 400), 401 everywhere (a stale or unknown token is refused on every route), 403 on guarded
routes, 404 where a path parameter names something that may not exist. ``tests/security/test_schemathesis.py``
checks that no operation answers a status it does not document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from twin.security.permissions import Group

EXTENSION = "x-hyperviseur-permission"
PROBLEM = "Problem"
_PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem details (RFC 9457)",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What was wrong and what to send instead."},
        "code": {"type": "string"},
    },
}
_ERRORS = {
    "400": "Paramètre ou corps invalide : le détail dit lequel et quoi envoyer.",
    "401": "Pas de session valide (absente, inconnue, expirée ou révoquée) : se connecter.",
    "403": "Le rôle (ou la session sans second facteur) ne permet pas cet appel.",
    "404": "Ce que nomme le chemin n'existe pas (ou n'est pas visible pour ce rôle).",
}


def _problem(status: str) -> dict[str, Any]:
    return {
        "description": _ERRORS[status],
        "content": {"application/problem+json": {"schema": {"$ref": f"#/components/schemas/{PROBLEM}"}}},
    }


def document_errors(operation: dict[str, Any], permission: dict[str, Any]) -> None:
    """Add the shared error answers to one operation (see the module docstring)."""
    responses = operation.setdefault("responses", {})
    # FastAPI documents a 422 for request validation, which our handler answers as 400; a 422 a route documents
    # itself (well-formed but not processable, e.g. a batch with nothing valid) stays.
    fastapi_422 = responses.get("422")
    if fastapi_422 is not None and fastapi_422.get("description") == "Validation Error":
        del responses["422"]
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("400", _problem("400"))
    responses.setdefault("401", _problem("401"))
    if permission["group"] != Group.PUBLIC.value or permission["session"]:
        responses.setdefault("403", _problem("403"))
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        responses.setdefault("404", _problem("404"))


def _checks(dependant: Dependant) -> Iterator[Any]:
    if dependant.call is not None and hasattr(dependant.call, "permission_group"):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _checks(sub)


def permission_of(route: Any) -> dict[str, Any]:
    """The endpoint group of ``route`` and whether it needs a signed-in session.

    ``route`` is an APIRoute or the effective route of an included router (FastAPI's ``RouteContext``,
    whose dependant also holds the dependencies of the routers it was included through).

    Raises
    ------
    ValueError
        When the route carries checks of two different groups: each route belongs to exactly one.
    """
    checks = list(_checks(route.dependant))
    groups = {check.permission_group for check in checks}
    if len(groups) > 1:
        names = ", ".join(sorted(g.value for g in groups))
        raise ValueError(f"route {route.path} belongs to several endpoint groups: {names}")
    group = groups.pop() if groups else Group.PUBLIC
    return {"group": group.value, "session": any(check.requires_session for check in checks)}


def annotate_permissions(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Add the permission extension and the shared errors to every operation ``routes`` serve."""
    paths = schema.get("paths", {})
    # FastAPI includes routers lazily: their routes only exist as contexts of the app's route list.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        operations = paths.get(route.path_format or "", {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is not None:
                operation[EXTENSION] = permission_of(route)
                document_errors(operation, operation[EXTENSION])
    schema.setdefault("components", {}).setdefault("schemas", {})[PROBLEM] = _PROBLEM_SCHEMA
    return schema


def install_permission_annotations(app: FastAPI) -> None:
    """Make ``app.openapi()`` annotate the generated document once, when it is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            annotate_permissions(build(), app.routes)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
