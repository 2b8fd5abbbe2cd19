"""OpenAI-compatible HTTPS endpoints (fine-tuned OpenAI models, vLLM, Ollama) over the stdlib,
so the Lambda bundle carries no HTTP or OpenAI SDK dependency."""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from chalicelib import aws
from chalicelib.config.registry import Deployment
from chalicelib.config.settings import get_settings
from chalicelib.errors import (
    ModelError,
    ModelNotReady,
    ModelTimeout,
    Throttled,
    TunegateError,
)
from chalicelib.formats.base import Api
from chalicelib.providers.bedrock import NOT_READY_RETRY_AFTER, THROTTLE_RETRY_AFTER
from chalicelib.providers.upstream import rejected

_PATHS: dict[str, str] = {
    "openai_completions": "/completions",
    "openai_chat": "/chat/completions",
}
_RETRYABLE = {429, 500, 502, 503, 504}
_local = threading.local()


def call(deployment: Deployment, api: Api, request: dict[str, Any]) -> Any:
    """POST the request with bounded retries on 429/5xx; return the decoded body."""
    settings = get_settings()
    assert deployment.base_url is not None  # guaranteed by the registry
    url = urlsplit(deployment.base_url.rstrip("/") + _PATHS[api])
    body = json.dumps({"model": deployment.model_id, **request}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = _api_key(deployment)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    status, payload = 0, b""
    for attempt in range(settings.model_max_attempts):
        if attempt:
            time.sleep(random.uniform(0, min(2.0, 0.25 * 2**attempt)))
        try:
            status, payload = _post(url.scheme, url.netloc, url.path, body, headers)
        except TimeoutError as exc:
            raise ModelTimeout("The model did not answer within the time budget.") from exc
        except (OSError, http.client.HTTPException) as exc:
            if attempt + 1 == settings.model_max_attempts:
                raise ModelNotReady(
                    "The model service could not be reached.", retry_after=NOT_READY_RETRY_AFTER
                ) from exc
            continue
        if status not in _RETRYABLE:
            break
    if status >= 400:
        raise _map_status(status, payload)
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError("The model answered something unreadable (not JSON).") from exc


def _post(
    scheme: str, netloc: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request over this thread's kept-alive connection, reconnecting once if it went stale."""
    settings = get_settings()
    pool: dict[tuple[str, str], http.client.HTTPConnection] = getattr(_local, "pool", {})
    _local.pool = pool
    for reuse in (True, False):
        connection = pool.get((scheme, netloc)) if reuse else None
        if connection is None:
            factory = (
                http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            )
            connection = factory(netloc, timeout=settings.model_read_timeout_seconds)
            pool[(scheme, netloc)] = connection
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            connection.close()
            pool.pop((scheme, netloc), None)
            if not reuse:
                raise
        except TimeoutError:
            connection.close()
            pool.pop((scheme, netloc), None)
            raise
    raise ModelNotReady("The model service could not be reached.")  # pragma: no cover


def _map_status(status: int, payload: bytes) -> TunegateError:
    if status == 429:
        return Throttled("The model is throttling requests.", retry_after=THROTTLE_RETRY_AFTER)
    if status in (503, 502):
        return ModelNotReady("The model service is unavailable.", retry_after=NOT_READY_RETRY_AFTER)
    if status == 504:
        return ModelTimeout("The model did not answer in time.")
    if status == 400:
        return rejected("openai", "HTTP 400", _error_message(payload))
    if status in (401, 403):
        return ModelError("The model endpoint refused our credentials.")
    if status == 404:
        return ModelError("The deployment's model was not found.")
    return ModelError(f"The model service failed (HTTP {status}).")


def _error_message(payload: bytes) -> str:
    """The endpoint's reason, for the log only (see providers/upstream.py)."""
    try:
        return str(json.loads(payload)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return payload[:500].decode("utf-8", "replace")


def _api_key(deployment: Deployment) -> str | None:
    if deployment.api_key_env:
        return os.environ.get(deployment.api_key_env)
    if deployment.api_key_secret_arn:
        return _secret(deployment.api_key_secret_arn)
    return None


@lru_cache(maxsize=32)
def _secret(arn: str) -> str:
    response = aws.client("secretsmanager").get_secret_value(SecretId=arn)
    return str(response["SecretString"])
