"""Tunegate HTTP API: routes only. Each parses the request, calls one service, shapes the reply."""

from __future__ import annotations

from collections.abc import Callable

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib import __version__
from chalicelib.api_models import InvokeRequest, ModelSummary
from chalicelib.invocations import invoke
from chalicelib.observability import logger, metrics
from chalicelib.runtime import get_runtime
from chalicelib.web import (
    api_route,
    current_request,
    envelope_for_chalice_error,
    json_response,
    parse_body,
)

app = Chalice(app_name="tunegate")
runtime = get_runtime()  # a bad registry or configuration stops the app here, at start


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


@api_route(app, "/health", public=True)
def health() -> Response:
    return json_response({"status": "ok", "version": __version__, "stage": runtime.settings.stage})


@api_route(app, "/v1/models")
def list_models() -> Response:
    models = [
        ModelSummary.model_validate(d, from_attributes=True).model_dump(mode="json")
        for d in runtime.registry.deployments
    ]
    return json_response({"models": models})


@api_route(app, "/v1/models/{name}/invoke", methods=["POST"], content_types=["application/json"])
def invoke_model(name: str) -> Response:
    deployment = runtime.registry.get(name)
    request = parse_body(current_request(app), InvokeRequest, runtime.settings.max_body_bytes)
    result = invoke(deployment, request, runtime.invocation_context)
    return json_response(result.model_dump(mode="json"))
