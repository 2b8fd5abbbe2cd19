"""Feedback tokens: an HMAC over (invocation id, model, expiry), so a widget can rate exactly one
answer without holding an API key."""

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
    return f"{_VERSION}.{expires}.{_signature(secret, invocation_id, model, expires)}"


def verify_feedback_token(
    secret: bytes, token: str, invocation_id: str, model: str, *, now: float
) -> None:
    """Raise InvalidFeedbackToken unless the token was issued for this invocation and is live."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not parts[1].isdigit():
        raise InvalidFeedbackToken("The feedback token is malformed.")
    expires = int(parts[1])
    expected = _signature(secret, invocation_id, model, expires)
    if not hmac.compare_digest(expected, parts[2]):
        raise InvalidFeedbackToken("The feedback token is not valid for this invocation.")
    if now > expires:
        raise InvalidFeedbackToken("The feedback token has expired.")
