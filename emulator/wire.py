"""Error types and replies as Bedrock Runtime and the OpenAI API put them on the wire."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

#: Bedrock's (runtime and control plane) error types and their HTTP status (botocore's service
#: models agree).
BEDROCK_ERROR_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 400,
    "ConflictException": 400,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

#: How each Bedrock error type looks from an OpenAI-compatible server: (status, type, code).
OPENAI_ERROR_SHAPE: dict[str, tuple[int, str, str | None]] = {
    "ValidationException": (400, "invalid_request_error", None),
    "AccessDeniedException": (403, "permission_error", "permission_denied"),
    "ResourceNotFoundException": (404, "invalid_request_error", "model_not_found"),
    "ModelTimeoutException": (500, "server_error", "timeout"),
    "ModelErrorException": (500, "server_error", None),
    "ThrottlingException": (429, "requests", "rate_limit_exceeded"),
    "ModelNotReadyException": (503, "server_error", "model_not_ready"),
    "ServiceQuotaExceededException": (429, "insufficient_quota", "insufficient_quota"),
    "ConflictException": (409, "invalid_request_error", "conflict"),
    "InternalServerException": (500, "server_error", None),
    "ServiceUnavailableException": (503, "server_error", "overloaded"),
}

DEFAULT_MESSAGES: dict[str, str] = {
    "ValidationException": "The request is invalid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "The specified model was not found.",
    "ModelTimeoutException": "Model has timed out in processing the request. "
    "Try your request again.",
    "ModelErrorException": "The model returned an error while processing the request.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ModelNotReadyException": "Model is not ready for inference. Wait and try your request again.",
    "ServiceQuotaExceededException": "Your request exceeds the service quota for your account.",
    "ConflictException": "The request conflicts with the current state of the resource.",
    "InternalServerException": "The server encountered an internal error.",
    "ServiceUnavailableException": "The service is temporarily unavailable. Try again later.",
}

_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"


class ApiError(Exception):
    """A failure in Bedrock's vocabulary; each front end renders it in its own wire format."""

    def __init__(self, error_type: str, message: str | None = None, param: str | None = None):
        if error_type not in BEDROCK_ERROR_STATUS:
            raise ValueError(f"unknown error type {error_type!r}")
        self.error_type = error_type
        self.message = message or DEFAULT_MESSAGES[error_type]
        self.param = param
        super().__init__(f"{error_type}: {self.message}")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def request_id() -> str:
    return str(uuid.uuid4())


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, dict(headers or {}))


def bedrock_error(error: ApiError) -> Reply:
    payload: dict[str, Any] = {"message": error.message}
    if error.error_type == "ModelErrorException":
        payload["originalStatusCode"] = 500
    return json_reply(
        BEDROCK_ERROR_STATUS[error.error_type],
        payload,
        {"x-amzn-ErrorType": f"{error.error_type}:{_ERROR_NAMESPACE}"},
    )


def openai_error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> Reply:
    payload = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return json_reply(status, payload)


def openai_error_from(error: ApiError) -> Reply:
    status, kind, code = OPENAI_ERROR_SHAPE[error.error_type]
    return openai_error(status, error.message, kind, code, error.param)
