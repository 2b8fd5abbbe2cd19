"""Feedback tokens: an HMAC over (invocation id, model, expiry), so a widget can rate exactly one
answer without holding an API key, and the feedback route needs no database read to check it.

Format: `v1.<expiry>.<model>.<signature>` (the model in clear; it is not a secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.errors import InvalidFeedbackToken

_VERSION = "v1"


def _signature(secret: bytes, invocation_id: str, model: str, expires: int) -> str:
    message = f"{_VERSION}\n{invocation_id}\n{model}\n{expires}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_feedback_token(
    secret: bytes, invocation_id: str, model: str, *, now: float, ttl_seconds: int
) -> str:
    expires = int(now) + ttl_seconds
    return f"{_VERSION}.{expires}.{model}.{_signature(secret, invocation_id, model, expires)}"


def read_feedback_token(secret: bytes, token: str, invocation_id: str, *, now: float) -> str:
    """The model the token was issued for; InvalidFeedbackToken unless it is genuine, for this
    invocation and not expired."""
    version, _, rest = token.partition(".")
    expires_text, _, rest = rest.partition(".")
    model, _, signature = rest.rpartition(".")
    if version != _VERSION or not expires_text.isdigit() or not model or not signature:
        raise InvalidFeedbackToken("The feedback token is malformed.")
    expires = int(expires_text)
    expected = _signature(secret, invocation_id, model, expires)
    if not hmac.compare_digest(expected, signature):
        raise InvalidFeedbackToken("The feedback token is not valid for this invocation.")
    if now > expires:
        raise InvalidFeedbackToken("The feedback token has expired.")
    return model


def verify_feedback_token(
    secret: bytes, token: str, invocation_id: str, model: str, *, now: float
) -> None:
    """Raise InvalidFeedbackToken unless the token was issued for this invocation and model."""
    if read_feedback_token(secret, token, invocation_id, now=now) != model:
        raise InvalidFeedbackToken("The feedback token is not valid for this invocation.")
