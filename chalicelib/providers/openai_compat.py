"""OpenAI-compatible HTTPS endpoints (fine-tuned OpenAI models, vLLM, Ollama) over the stdlib,
so the Lambda bundle carries no HTTP or OpenAI SDK dependency."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
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
from chalicelib.providers.retries import RetryPolicy
from chalicelib.providers.upstream import rejected

_PATHS: dict[str, str] = {
    "openai_completions": "/completions",
    "openai_chat": "/chat/completions",
}
_local = threading.local()


def call(deployment: Deployment, api: Api, request: dict[str, Any], retry: RetryPolicy) -> Any:
    """POST the request, retrying as `retry` allows (at most its `max_attempts` in all); return
    the decoded body. A read timeout ends the call: the time budget is spent."""
    assert deployment.base_url is not None  # guaranteed by the registry
    url = urlsplit(deployment.base_url.rstrip("/") + _PATHS[api])
    body = json.dumps({"model": deployment.model_id, **request}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = _api_key(deployment)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    failures: Counter[str] = Counter()
    for attempt in range(1, retry.max_attempts + 1):
        try:
            status, payload = _post(url.scheme, url.netloc, url.path, body, headers)
        except TimeoutError as exc:
            raise ModelTimeout("The model did not answer within the time budget.") from exc
        except (OSError, http.client.HTTPException) as exc:
            error: TunegateError = ModelNotReady(
                "The model service could not be reached.", retry_after=NOT_READY_RETRY_AFTER
            )
            error.__cause__ = exc
        else:
            if status < 400:
                break
            error = _map_status(status, payload)
        failures[error.code] += 1
        if attempt == retry.max_attempts or not retry.should_retry(error, failures[error.code]):
            raise error
        time.sleep(retry.delay(error.code, failures[error.code]))
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
    """The contract's error for an HTTP failure; a 4xx other than 408/409/429 is permanent."""
    if status == 429:
        return Throttled("The model is throttling requests.", retry_after=THROTTLE_RETRY_AFTER)
    if status in (503, 502):
        return ModelNotReady("The model service is unavailable.", retry_after=NOT_READY_RETRY_AFTER)
    if status == 504:
        return ModelTimeout("The model did not answer in time.")
    if status == 400:
        return rejected("openai", "HTTP 400", _error_message(payload))
    if status in (401, 403):
        return ModelError("The model endpoint refused our credentials.", retryable=False)
    if status == 404:
        return ModelError("The deployment's model was not found.", retryable=False)
    permanent = status < 500 and status not in (408, 409)
    return ModelError(f"The model service failed (HTTP {status}).", retryable=not permanent)


def _error_message(payload: bytes) -> str:
    """The endpoint's reason, for the log only (see providers/upstream.py)."""
    try:
        return str(json.loads(payload)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return payload[:500].decode("utf-8", "replace")


def _api_key(deployment: Deployment) -> str | None:
    return api_key(deployment.api_key_env, deployment.api_key_secret_arn)


def api_key(env_name: str | None, secret_arn: str | None) -> str | None:
    """An OpenAI-compatible key from an environment variable or a Secrets Manager secret (the
    deployments' and the tuning API's two sources); None: the endpoint needs none."""
    if env_name:
        return os.environ.get(env_name)
    if secret_arn:
        return _secret(secret_arn)
    return None


@lru_cache(maxsize=32)
def _secret(arn: str) -> str:
    response = aws.client("secretsmanager").get_secret_value(SecretId=arn)
    return str(response["SecretString"])
