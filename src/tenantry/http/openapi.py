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
from pydantic import BaseModel

from tenantry.http.errors import PROBLEM_MEDIA_TYPE, TITLES

# What a route with a JSON body may also answer before its use case runs.
BODY_PROBLEMS = (400, 413, 415, 422)
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
# Where an operation carries the schemas its hand-declared body refers to, until the document
# is built and they move to `components`.
_BODY_SCHEMAS = "x-tenantry-body-schemas"


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that answers with these problem statuses."""
    return {status: {"description": TITLES[status]} for status in sorted(set(statuses))}


def json_or_csv_body(model: type[BaseModel], csv_description: str) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads its own body: JSON as `model`, or a CSV file.
    (FastAPI documents one body model, under JSON only.)"""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = {**schema.pop("$defs", {}), model.__name__: schema}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                "text/csv": {"schema": {"type": "string", "description": csv_description}},
            },
        },
        _BODY_SCHEMAS: schemas,
    }


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
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for name, schema in operation.pop(_BODY_SCHEMAS, {}).items():
                schemas.setdefault(name, schema)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = problem_schema
    return document
