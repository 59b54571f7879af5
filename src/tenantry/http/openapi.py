"""The OpenAPI document as clients need it: each operation lists the problems it really
answers with, every problem under `application/problem+json` with the `Problem` schema.

Routes name their problems with `problems(...)`; `install_openapi` moves every 4xx/5xx
response of the generated document to the problem media type (FastAPI puts a response model
under `application/json` and adds its own 422 schema), once, when the document is first built.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tenantry.http.errors import PROBLEM_MEDIA_TYPE, TITLES

# What a route with a JSON body may also answer before its use case runs.
BODY_PROBLEMS = (400, 413, 415, 422)
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that answers with these problem statuses."""
    return {status: {"description": TITLES[status]} for status in sorted(set(statuses))}


def install_openapi(app: FastAPI, problem_schema: dict[str, Any]) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _with_problems(document, problem_schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_problems(document: dict[str, Any], problem_schema: dict[str, Any]) -> dict[str, Any]:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45":
                    response["description"] = TITLES.get(int(status), response["description"])
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = problem_schema
    return document
