"""Amazon Bedrock Runtime: InvokeModel / Converse through one reused client, errors mapped
to the contract's codes."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from chalicelib import aws
from chalicelib.errors import (
    ModelError,
    ModelNotReady,
    ModelTimeout,
    Throttled,
    TunegateError,
)
from chalicelib.formats.base import Api
from chalicelib.providers.retries import RetryPolicy
from chalicelib.providers.upstream import rejected

# Seconds a client should wait: throttling clears quickly, a model coming into service does not.
THROTTLE_RETRY_AFTER = 2
NOT_READY_RETRY_AFTER = 30

_SLOW, _WAIT = THROTTLE_RETRY_AFTER, NOT_READY_RETRY_AFTER
_ERRORS: dict[str, tuple[type[TunegateError], str, int | None]] = {
    "ThrottlingException": (Throttled, "The model is throttling requests.", _SLOW),
    "ServiceQuotaExceededException": (
        Throttled,
        "The model's service quota is exhausted.",
        THROTTLE_RETRY_AFTER,
    ),
    "ModelNotReadyException": (
        ModelNotReady,
        "The model is not ready to serve requests.",
        NOT_READY_RETRY_AFTER,
    ),
    "ServiceUnavailableException": (
        ModelNotReady,
        "The model service is unavailable.",
        NOT_READY_RETRY_AFTER,
    ),
    "ModelTimeoutException": (ModelTimeout, "The model did not answer in time.", None),
    "ModelErrorException": (ModelError, "The model failed to process the request.", None),
    "InternalServerException": (ModelError, "The model service had an internal error.", None),
    "ModelStreamErrorException": (ModelError, "The model failed while answering.", None),
    "AccessDeniedException": (ModelError, "Access to the model was denied.", None),
    "ResourceNotFoundException": (ModelError, "The deployment's model was not found.", None),
}
#: Refusals no retry can fix: the deployment or its access is wrong (ValidationException, the
#: request itself, becomes an InvalidRequest, never retried either).
_PERMANENT = frozenset({"AccessDeniedException", "ResourceNotFoundException"})


def call(model_id: str, api: Api, request: dict[str, Any], retry: RetryPolicy) -> Any:
    """Send the request (botocore retries it as `retry` says); return the decoded response
    body or raise a TunegateError."""
    runtime = aws.model_client(retry.max_attempts)
    try:
        if api == "converse":
            response = runtime.converse(modelId=model_id, **request)
            response.pop("ResponseMetadata", None)
            return response
        raw = runtime.invoke_model(
            modelId=model_id,
            body=json.dumps(request).encode(),
            contentType="application/json",
            accept="application/json",
        )
        payload = raw["body"].read()
    except ClientError as exc:
        raise map_client_error(exc) from exc
    except ReadTimeoutError as exc:
        raise ModelTimeout("The model did not answer within the time budget.") from exc
    except (ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError) as exc:
        raise ModelNotReady(
            "The model service could not be reached.", retry_after=NOT_READY_RETRY_AFTER
        ) from exc
    except (BotoCoreError, ResponseParserError) as exc:
        # ResponseParserError (an unreadable Converse body) is not a BotoCoreError.
        raise ModelError("The model answered something unreadable.") from exc
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError("The model answered something unreadable (not JSON).") from exc


def map_client_error(exc: ClientError) -> TunegateError:
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ValidationException":
        return rejected("bedrock", code, str(exc.response.get("Error", {}).get("Message", "")))
    error_type, message, retry_after = _ERRORS.get(
        code, (ModelError, "The model service returned an unexpected error.", None)
    )
    return error_type(message, retry_after=retry_after, retryable=code not in _PERMANENT)
