"""The one HTTP client for OpenAI's fine-tuning API (files, jobs, events): tuning submits and
reads jobs through it, provisioning finds a tuned model's job and training file through it, so
the key, the time budget and the error mapping are decided once.

Standard library HTTP, as the OpenAI-compatible model provider does (no SDK in the Lambda
bundle); the key comes from the same two sources (an environment variable or a secret). Nothing
here retries: a create has no idempotency token, so the callers decide.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config.settings import get_settings
from chalicelib.errors import (
    InvalidRequest,
    ModelError,
    NotFound,
    ServiceUnavailable,
    Throttled,
    TunegateError,
)
from chalicelib.providers.openai_compat import api_key

TIMEOUT_SECONDS = 20


def key() -> str | None:
    """The fine-tuning API's key, read as every OpenAI-compatible key is (`api_key`); a secret
    that cannot be read is a 503."""
    settings = get_settings()
    try:
        return api_key(
            settings.tuning_openai_api_key_env, settings.tuning_openai_api_key_secret_arn
        )
    except (ClientError, BotoCoreError):
        raise ServiceUnavailable("The OpenAI key cannot be read.", retry_after=5) from None


def error(status: int, payload: bytes) -> TunegateError:
    """OpenAI's HTTP refusal as our error. The callers are admin routes and the CLI acting on
    the user's own OpenAI account, so OpenAI's reason is kept in the message."""
    try:
        message = str(json.loads(payload)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = payload[:300].decode("utf-8", "replace")
    if status == 429:
        return Throttled(f"OpenAI is throttling: {message}", retry_after=5)
    if status == 404:
        return NotFound(f"OpenAI: {message}")
    if status in (400, 409, 422):
        return InvalidRequest(f"OpenAI refused the request: {message}")
    if status in (401, 403):
        return ModelError("The OpenAI endpoint refused our credentials.", retryable=False)
    return ModelError(f"OpenAI failed (HTTP {status}): {message}")


def request(
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    limit: int | None = None,
) -> bytes:
    """Send one request to TUNING_OPENAI_BASE_URL + `path`; the body (at most `limit` bytes)."""
    url = get_settings().tuning_openai_base_url.rstrip("/") + path
    if not url.startswith(("https://", "http://")):
        raise ServiceUnavailable("TUNING_OPENAI_BASE_URL must be an http(s) URL.")
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    secret = key()
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    outgoing = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(outgoing, timeout=TIMEOUT_SECONDS) as reply:  # noqa: S310
            return bytes(reply.read(limit) if limit else reply.read())
    except urllib.error.HTTPError as exc:
        raise error(exc.code, exc.read()) from None
    except OSError:
        raise ServiceUnavailable("The OpenAI API could not be reached.", retry_after=5) from None


def request_json(method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`request` with a JSON body both ways; an answer that is not a JSON object is a 502."""
    raw = request(method, path, None if body is None else json.dumps(body).encode())
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise ModelError("The OpenAI API answered something unreadable.") from exc
    if not isinstance(found, dict):
        raise ModelError("The OpenAI API answered something unreadable.")
    return found
