"""The HTTP edge: parse request bodies into models, render errors in the contract's envelope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice.app import Blueprint, Chalice, Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.payload import body_text
from chalicelib.auth.keys import require_api_key
from chalicelib.auth.scopes import KeyEntry, Scope
from chalicelib.errors import InvalidRequest, PayloadTooLarge, TunegateError, UnsupportedMediaType
from chalicelib.observability import MetricUnit, logger, metrics, single_metric
from chalicelib.runtime import get_runtime

ModelT = TypeVar("ModelT", bound=BaseModel)
JSON_HEADERS = {"Content-Type": "application/json"}
# On every response: no browser may read a JSON error, an export or the widget as another type.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}

# Chalice answers some errors itself ({"Code", "Message"}); give them the contract's shape.
_CHALICE_CODES = {
    400: "invalid_request",
    403: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
}


#: Set for the duration of a protected route: the caller's key entry (its scopes and owner).
_caller: ContextVar[KeyEntry | None] = ContextVar("tunegate_caller", default=None)
#: The attribute of a route's view function naming its scope (None: public); tests and the
#: OpenAPI check read it.
SCOPE_ATTRIBUTE = "tunegate_scope"


def contract_key(request: Request) -> str | None:
    """The key as the contract's routes take it: the `x-api-key` header."""
    return request.headers.get("x-api-key")


@dataclass(frozen=True)
class RouteEdge:
    """What a family of routes reads its key from and how it renders errors: the contract's
    routes (`x-api-key`, the contract's envelope) or the OpenAI-compatible ones."""

    read_key: Callable[[Request], str | None] = contract_key
    # A lambda: error_response is defined further down this module.
    render: Callable[[TunegateError], Response] = lambda error: error_response(error)


CONTRACT_EDGE = RouteEdge()


def api_route(
    owner: Chalice | Blueprint,
    path: str,
    *,
    scope: Scope | None = None,
    public: bool = False,
    edge: RouteEdge = CONTRACT_EDGE,
    **options: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """`route` plus the API-key and scope check and the one translation of domain errors to
    responses (in `edge`'s shape). A protected route must name its scope: forgetting it fails
    at import, never opens the route to every key.

    Works for the app and for blueprints, so every route family shares the same edge."""
    if public == (scope is not None):
        raise TypeError(f"{path}: a route is either public or names its scope")

    def decorate(view: Callable[..., Any]) -> Any:
        @functools.wraps(view)
        def handler(**kwargs: Any) -> Any:
            token = None
            try:
                if scope is not None:
                    key = edge.read_key(current_request(owner))
                    entry = require_api_key(key, get_runtime().settings, scope)
                    token = _caller.set(entry)
                return view(**kwargs)
            except TunegateError as exc:
                if exc.status >= 500:
                    logger.warning("request failed", extra={"error_code": exc.code})
                return edge.render(exc)
            finally:
                if token is not None:
                    _caller.reset(token)

        setattr(handler, SCOPE_ATTRIBUTE, scope)
        return owner.route(path, **options)(handler)

    return decorate


def caller() -> KeyEntry:
    """The key of the protected route being served."""
    entry = _caller.get()
    if entry is None:  # only outside a protected route
        raise RuntimeError("no authenticated caller")
    return entry


def api_routes(
    owner: Chalice | Blueprint,
    protected_options: dict[str, Any] | None = None,
    edge: RouteEdge = CONTRACT_EDGE,
) -> Callable[..., Callable[[Callable[..., Any]], Any]]:
    """`api_route` bound to `owner` and `edge`, adding `protected_options` (the gateway's key
    check: authorizer and `api_key_required`) to every route that is not public."""

    def route(
        path: str, *, scope: Scope | None = None, public: bool = False, **options: Any
    ) -> Any:
        if not public:
            options = {**(protected_options or {}), **options}
        return api_route(owner, path, scope=scope, public=public, edge=edge, **options)

    return route


def current_request(owner: Chalice | Blueprint) -> Request:
    request = owner.current_request
    if request is None:  # only outside a request, never inside a route
        raise RuntimeError("no current request")
    return request


def cors_headers(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    """CORS for browser widgets: echo the Origin only when it is configured."""
    origin = (request.headers.get("origin") or "").rstrip("/")
    if not origin or not ({"*", origin} & allowed):
        return {}
    return {
        "Access-Control-Allow-Origin": "*" if "*" in allowed else origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON not ASCII-escaped (Chalice's own encoding escapes: twice the bytes for CJK text)."""
    return Response(
        body=body_text(body), status_code=status, headers={**JSON_HEADERS, **(headers or {})}
    )


def error_response(error: TunegateError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.body(), error.status, {**error.headers(), **(headers or {})})


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """Validate query parameters (strings, so coerced: the model must not be strict)."""
    try:
        return model.model_validate(dict(request.query_params or {}))
    except ValidationError as exc:
        raise InvalidRequest(
            "The query parameters are not valid.", details=validation_details(exc)
        ) from None


def parse_body(request: Request, model: type[ModelT], max_bytes: int) -> ModelT:
    """Validate the raw body against `model`; every problem names its field."""
    content_type = (request.headers.get("content-type") or "application/json").lower()
    if "json" not in content_type:
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest(
            "The request body is not valid.", details=validation_details(exc)
        ) from None


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in err["loc"]) or "(body)"
        reason = err["msg"]
        if err["type"] == "json_invalid":
            field, reason = "(body)", f"malformed JSON: {err.get('ctx', {}).get('error', '')}"
        details.append({"field": field, "reason": reason})
    return details


def finish_response(response: Response) -> Response:
    """The edge's last step on every response: the contract's envelope on errors Chalice made
    itself, `nosniff`, and the count of a 500 (an error no route handled, i.e. a bug)."""
    if response.status_code == 500:
        count_internal_error()
    response = envelope_for_chalice_error(response)
    response.headers = {**response.headers, **NOSNIFF}
    return response


def count_internal_error() -> None:
    """One `Errors` without dimensions, whatever the route (the stack's internal-errors alarm
    watches it), and one more under the request's `model` once a route named it (that model's
    error rate). Without this a 500 reached only a log line."""
    if metrics.dimension_set:
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace):
        pass


def envelope_for_chalice_error(response: Response) -> Response:
    """Rewrite a response Chalice produced on its own into the contract's error envelope."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    code = _CHALICE_CODES.get(response.status_code, "internal_error")
    message = str(body.get("Message") or "The request failed.")
    if response.status_code >= 500:
        message = "An internal error occurred."
    headers = {
        k: v if isinstance(v, str) else ",".join(v)
        for k, v in response.headers.items()
        if k.lower() != "content-type"
    }
    return json_response(
        {"error": {"code": code, "message": message}}, response.status_code, headers
    )
