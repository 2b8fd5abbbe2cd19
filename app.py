"""Tunegate HTTP API: routes only. Each parses the request, calls one service, shapes the reply."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib import __version__
from chalicelib.api_models import InvokeRequest, ModelSummary
from chalicelib.errors import TunegateError
from chalicelib.invocations import invoke
from chalicelib.observability import logger, metrics
from chalicelib.runtime import build_runtime
from chalicelib.secrets import require_api_key
from chalicelib.web import envelope_for_chalice_error, error_response, json_response, parse_body

app = Chalice(app_name="tunegate")
runtime = build_runtime()


@app.middleware("http")
def edge(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Contract envelope for every error, metrics flushed on every request (errors too)."""
    logger.clear_state()
    try:
        response = get_response(event)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        else:
            metrics.clear_metrics()
    return envelope_for_chalice_error(response)


def api_route(path: str, *, public: bool = False, **options: Any) -> Callable[..., Any]:
    """`app.route` plus API-key check and one translation of domain errors to responses."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def handler(**kwargs: Any) -> Any:
            try:
                if not public:
                    require_api_key(app.current_request.headers.get("x-api-key"), runtime.settings)
                return view(**kwargs)
            except TunegateError as exc:
                if exc.status >= 500:
                    logger.warning("request failed", extra={"error_code": exc.code})
                return error_response(exc)

        return app.route(path, **options)(handler)

    return decorate


@api_route("/health", public=True)
def health() -> Response:
    return json_response({"status": "ok", "version": __version__, "stage": runtime.settings.stage})


@api_route("/v1/models")
def list_models() -> Response:
    models = [
        ModelSummary.model_validate(d, from_attributes=True).model_dump(mode="json")
        for d in runtime.registry.deployments
    ]
    return json_response({"models": models})


@api_route("/v1/models/{name}/invoke", methods=["POST"], content_types=["application/json"])
def invoke_model(name: str) -> Response:
    deployment = runtime.registry.get(name)
    request = parse_body(app.current_request, InvokeRequest, runtime.settings.max_body_bytes)
    result = invoke(deployment, request, runtime.invocation_context)
    return json_response(result.model_dump(mode="json"))
