"""Feedback tokens: an HMAC over (invocation id, model, expiry), so a widget can rate exactly one
answer without holding an API key, and the feedback route needs no database read to check it.

Format: `v1.<expiry>.<model>.<signature>` (the model in clear; it is not a secret; `name@version`
when a version answered, signed like the rest, so it cannot be altered). Each part
has exactly one spelling, in ASCII: the expiry in decimal without leading zeros, the model a
deployment name, the signature unpadded base64url of the 32-byte HMAC. Anything else is refused
before any arithmetic or comparison, so no token can make the check itself fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from chalicelib.config.registry import DEPLOYMENT_NAME
from chalicelib.errors import InvalidFeedbackToken

_VERSION = "v1"
# Explicit ASCII classes: `\d` and str.isdigit() also accept "²" and "٣", which int() refuses
# or reads as another spelling of the same number.
_TOKEN = re.compile(
    rf"{_VERSION}\.(?P<expires>[1-9][0-9]{{0,15}})"
    rf"\.(?P<model>{DEPLOYMENT_NAME}(@[1-9][0-9]{{0,9}})?)"
    r"\.(?P<signature>[A-Za-z0-9_-]{43})"
)


def _signature(secret: bytes, invocation_id: str, model: str, expires: int) -> str:
    message = f"{_VERSION}\n{invocation_id}\n{model}\n{expires}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_feedback_token(
    secret: bytes,
    invocation_id: str,
    model: str,
    *,
    now: float,
    ttl_seconds: int,
    version: int | None = None,
) -> str:
    expires = int(now) + ttl_seconds
    if version is not None:
        model = f"{model}@{version}"
    return f"{_VERSION}.{expires}.{model}.{_signature(secret, invocation_id, model, expires)}"


def read_feedback_token(secret: bytes, token: str, invocation_id: str, *, now: float) -> str:
    """The model the token was issued for (`name@version` when a version answered);
    InvalidFeedbackToken unless it is genuine, for this invocation and not expired."""
    parts = _TOKEN.fullmatch(token)
    if parts is None:
        raise InvalidFeedbackToken("The feedback token is malformed.")
    expires, model, signature = int(parts["expires"]), parts["model"], parts["signature"]
    expected = _signature(secret, invocation_id, model, expires)
    if not hmac.compare_digest(expected, signature):
        raise InvalidFeedbackToken("The feedback token is not valid for this invocation.")
    if now > expires:
        raise InvalidFeedbackToken("The feedback token has expired.")
    return model


def verify_feedback_token(
    secret: bytes, token: str, invocation_id: str, model: str, *, now: float
) -> None:
    """Raise InvalidFeedbackToken unless the token was issued for this invocation and model
    (any version of it)."""
    if read_feedback_token(secret, token, invocation_id, now=now).partition("@")[0] != model:
        raise InvalidFeedbackToken("The feedback token is not valid for this invocation.")
