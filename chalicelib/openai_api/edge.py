"""The HTTP edge of the OpenAI-compatible routes: the API key from `Authorization: Bearer`
(what OpenAI clients send) or `x-api-key`, and errors in OpenAI's shape.

OpenAI's error body `{"error": {"message", "type", "param", "code"}}` carries the contract's
`code` (and `details`), so it is the contract's envelope too: a client of either reads it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Blueprint, Chalice, Request, Response

from chalicelib.api.edge import RouteEdge, api_routes, json_response
from chalicelib.auth.scopes import Scope
from chalicelib.errors import TunegateError, Unauthorized

#: Every OpenAI-compatible route answers (or lists) models: the contract's `invoke` scope.
ROUTE_SCOPE: Scope = "invoke"
MISSING_KEY = "Missing API key: send it as 'Authorization: Bearer KEY' or in the x-api-key header."
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def bearer_token(authorization: str | None) -> str | None:
    """The KEY of `Bearer KEY` (scheme case-insensitive, RFC 6750), else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def presented_key(headers: Mapping[str, str]) -> str | None:
    return headers.get("x-api-key") or bearer_token(headers.get("authorization"))


def route_key(request: Request) -> str:
    """The key of these routes, whichever header carries it; 401 in OpenAI's words when none
    does (the scope check is the app's own, in `api_route`)."""
    key = presented_key(request.headers)
    if not key:
        raise Unauthorized(MISSING_KEY)
    return key


def openai_error_body(error: TunegateError) -> dict[str, Any]:
    details = error.details or []
    body: dict[str, Any] = {
        "message": error.message,
        "type": _TYPES.get(error.status, "server_error" if error.status >= 500 else "api_error"),
        "param": details[0].get("field") if details else None,
        "code": error.code,
    }
    if details:
        body["details"] = details
    return {"error": body}


def openai_error_response(error: TunegateError) -> Response:
    return json_response(openai_error_body(error), error.status, error.headers())


OPENAI_EDGE = RouteEdge(read_key=route_key, render=openai_error_response)


def openai_routes(
    owner: Chalice | Blueprint, protected_options: dict[str, Any] | None = None
) -> Callable[..., Callable[[Callable[..., Any]], Any]]:
    """`route` for the OpenAI-compatible routes: the app's own route edge (key, `invoke` scope,
    errors rendered once) with the key from either header and errors in OpenAI's shape, plus
    `protected_options` (the deployed gateway's authorizer for the header these routes use)."""
    routes = api_routes(owner, protected_options, edge=OPENAI_EDGE)

    def route(path: str, **options: Any) -> Any:
        return routes(path, scope=ROUTE_SCOPE, **options)

    return route
