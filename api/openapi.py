"""The OpenAPI document: FastAPI's, plus what its generator cannot read from the route signatures.

The document is the contract clients generate code from, so it must say what the code does:

- **Who may call.** Every ``/v1`` route reads the key (``api.security.every_request``: a bad key is 401
  everywhere), so FastAPI declares the key required on all of them. A route that does not depend on
  ``get_signed_in`` serves anonymous callers too: its security becomes ``[{"HTTPBearer": []}, {}]`` (key
  optional), derived from the dependencies rather than listed, so that a new route cannot be declared wrongly.
- **Absent parameters.** A query parameter or header left out is how a caller says "none"; FastAPI documents
  ``X | None`` as ``anyOf: [X, null]``, which clients and fuzzers send as the text ``null``. The ``null`` goes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.security import get_signed_in

_NULL = {"type": "null"}


def _requires_key(dependant: Dependant) -> bool:
    return any(dep.call is get_signed_in or _requires_key(dep) for dep in dependant.dependencies)


def _optional_key(document: dict[str, Any], app: FastAPI) -> None:
    for context in iter_route_contexts(app.routes):
        route = context.route
        if not isinstance(route, APIRoute) or not route.include_in_schema or _requires_key(route.dependant):
            continue
        for method in route.methods or ():
            operation = document["paths"][context.path_format][method.lower()]
            if operation.get("security") and {} not in operation["security"]:
                operation["security"].append({})


def _no_null_parameters(document: dict[str, Any]) -> None:
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                if _NULL not in schema.get("anyOf", ()):
                    continue
                options = [option for option in schema.pop("anyOf") if option != _NULL]
                if len(options) == 1:
                    schema.update(options[0])
                else:
                    schema["anyOf"] = options


def install_openapi(app: FastAPI) -> None:
    """Serve the adjusted document at ``/openapi.json`` (built once, on first use)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _optional_key(document, app)
            _no_null_parameters(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
