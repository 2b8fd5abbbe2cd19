"""Domain errors: each carries the contract's HTTP status and code, rendered once at the edge."""

from __future__ import annotations

from typing import Any, ClassVar


class TunegateError(Exception):
    """Base of every error a client may see; `code` and `status` follow CONTRACT section 3."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    #: Whether the same request may succeed later, unless the raiser knows better (a provider
    #: that read a permanent refusal passes `retryable=False`); see providers/retries.py.
    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.retryable = self.transient if retryable is None else retryable

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class InvalidRequest(TunegateError):
    status, code = 400, "invalid_request"


class CostLimitExceeded(TunegateError):
    """A tuning job whose estimated cost is above the `max_cost_usd` the caller set."""

    status, code = 400, "cost_limit_exceeded"


class Unauthorized(TunegateError):
    status, code = 401, "unauthorized"


class Forbidden(TunegateError):
    status, code = 403, "forbidden"


class InvalidFeedbackToken(TunegateError):
    status, code = 403, "invalid_feedback_token"


class NotFound(TunegateError):
    status, code = 404, "not_found"


class Conflict(TunegateError):
    """A stale `expected_revision`: another change won; read again and retry."""

    status, code = 409, "conflict"


class InvalidState(TunegateError):
    """The action does not apply to the current state (retry a job without errors, cancel a
    finished job, roll back a deployment that never changed)."""

    status, code = 409, "invalid_state"


class PromotionRejected(TunegateError):
    """The promotion gate failed; `details` holds the comparison."""

    status, code = 409, "promotion_rejected"


class PayloadTooLarge(TunegateError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(TunegateError):
    status, code = 415, "unsupported_media_type"


class Throttled(TunegateError):
    status, code = 429, "throttled"
    transient = True


class ModelError(TunegateError):
    status, code = 502, "model_error"
    transient = True


class ModelNotReady(TunegateError):
    status, code = 503, "model_not_ready"
    transient = True


class ServiceUnavailable(TunegateError):
    """A backing store (DynamoDB, SQS, S3) could not be reached; nothing was half-written."""

    status, code = 503, "service_unavailable"
    transient = True


class ModelTimeout(TunegateError):
    status, code = 504, "model_timeout"
    transient = True


class ConfigurationError(Exception):
    """Bad deployment configuration: stops the app at start, never reaches a client."""
