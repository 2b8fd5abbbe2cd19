"""The OpenAPI 3.1 document of the HTTP API, generated from the same pydantic models that
validate requests, so the document cannot drift from what the code accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from chalicelib import __version__
from chalicelib.auth.scopes import Scope

JSON = "application/json"
ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "invalid_feedback_token",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    502: "model_error",
    503: "model_not_ready",
    504: "model_timeout",
}


SCOPES_DESCRIPTION = (
    "Each key carries scopes (a route's own is in its `security` and `x-tunegate-scope`): "
    "`invoke` (invoke, model list), `evaluate` (evaluations, feedback summary and export), "
    "`admin` (deployments, tuning, provisioning; also reads every key's evaluations). "
    "A valid key without the route's scope gets 403 `forbidden`."
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    responses: dict[int, Any]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    #: The key scope the route needs (chalicelib/auth/scopes.py); None only for public routes.
    scope: Scope | None = None
    errors: tuple[int, ...] = ()
    content_type: str = JSON
    #: Also takes the key as `Authorization: Bearer KEY` (the OpenAI-compatible routes).
    bearer: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema for a pydantic model or any annotation, its $defs hoisted to components."""
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    if isinstance(model, type) and issubclass(model, BaseModel):
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return schema


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


def build_document(operations: list[Operation]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if op.public == (op.scope is not None):
            raise ValueError(f"{op.method} {op.path}: public, or names its scope")
        responses: dict[str, Any] = {}
        for status, payload in op.responses.items():
            if isinstance(payload, tuple):  # (content type, schema) for non-JSON bodies
                media, schema = payload
                responses[str(status)] = {
                    "description": "OK",
                    "content": {media: {"schema": schema}},
                }
            elif payload is None:
                responses[str(status)] = {"description": "No content"}
            else:
                responses[str(status)] = {
                    "description": "OK",
                    "content": {JSON: {"schema": _schema(payload, components)}},
                }
        errors = set(op.errors) | {400, 404, 500} | (set() if op.public else {401, 403})
        if op.body is not None:
            errors |= {413, 415}
        for status in sorted(errors):
            description = ERROR_CODES.get(status, "internal_error")
            if status == 403 and not op.public:
                description = "forbidden (the API key lacks the route's scope)"
            responses[str(status)] = {
                "description": description,
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method}_{op.path}".replace("/", "_")
            .replace("{", "")
            .replace("}", ""),
            "responses": responses,
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_names(op.path)
        ]
        if op.query is not None:
            parameters += _query_parameters(op.query, components)
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {op.content_type: {"schema": _schema(op.body, components)}},
            }
        if not op.public:
            # OpenAPI 3.1 lets a non-OAuth requirement list role names: the key's scope.
            operation["security"] = [{"ApiKey": [op.scope]}] + (
                [{"Bearer": [op.scope]}] if op.bearer else []
            )
            operation["x-tunegate-scope"] = op.scope
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tunegate", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": SCOPES_DESCRIPTION,
                },
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    from chalicelib.api.operations import OPERATIONS

    return build_document(OPERATIONS)
