"""The OpenAPI document tells a client what each operation does and which problems it can
answer with, each one as `application/problem+json` with the `Problem` schema."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Api

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_every_operation_is_summarised_and_described(document: dict[str, Any]) -> None:
    undescribed = [
        label
        for label, operation in operations(document)
        if not operation.get("summary") or not operation.get("description")
    ]
    assert undescribed == []


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_every_problem_response_is_problem_json_with_the_problem_schema(
    document: dict[str, Any],
) -> None:
    for label, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert response["content"] == PROBLEM, f"{label} {status}"
    schemas = document["components"]["schemas"]
    assert {"code", "detail", "status", "title"} <= set(schemas["Problem"]["required"])
    assert "HTTPValidationError" not in schemas


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_an_operation_lists_the_problems_it_can_answer_and_not_the_others(
    document: dict[str, Any],
) -> None:
    def statuses(method: str, path: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    assert statuses("get", "/v1/me") == {"200", "400", "401", "500", "503"}
    assert {"409", "413", "415", "422", "429"} <= statuses("post", "/v1/organisations")
    assert "403" in statuses("post", "/v1/auth/refresh")  # not_a_member
    assert "404" not in statuses("post", "/v1/auth/login")
    assert "401" not in statuses("get", "/.well-known/jwks.json")


@pytest.mark.parametrize("store_target", ["sqlite"], indirect=True)
def test_every_field_and_parameter_is_described(document: dict[str, Any]) -> None:
    undescribed_fields = [
        f"{name}.{field}"
        for name, schema in document["components"]["schemas"].items()
        for field, definition in schema.get("properties", {}).items()
        if not definition.get("description")
    ]
    undescribed_parameters = [
        f"{label} {parameter['in']} {parameter['name']}"
        for label, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] in ("query", "path") and not parameter.get("description")
    ]
    assert undescribed_fields == []
    assert undescribed_parameters == []
