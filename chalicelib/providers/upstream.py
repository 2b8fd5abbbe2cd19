"""What a provider said when it rejected a request: logged for the operator, never shown to the
client. Provider messages can hold the provisioned model's ARN and the account id (Bedrock's
ValidationException does), which a public answer must not reveal."""

from __future__ import annotations

import re

from chalicelib.errors import InvalidRequest
from chalicelib.observability import logger

#: What every client sees when the provider refuses the request as invalid.
REJECTED = (
    "The model rejected the request: an inference parameter or the input is not valid for "
    "this model."
)
_ARN = re.compile(r"arn:aws[a-z-]*:[^\s\"'`,;)\]}]*", re.IGNORECASE)
_ACCOUNT_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
_MAX_LOGGED_CHARS = 1000


def redact(text: str) -> str:
    """The text with ARNs and 12-digit account ids replaced, clipped for a log line."""
    text = _ARN.sub("arn:<redacted>", text)
    return _ACCOUNT_ID.sub("<account-id>", text)[:_MAX_LOGGED_CHARS]


def rejected(provider: str, code: str, message: str) -> InvalidRequest:
    """Log the provider's own (redacted) reason; the client gets our fixed message."""
    logger.warning(
        "model rejected the request",
        extra={"provider": provider, "provider_code": code, "provider_message": redact(message)},
    )
    return InvalidRequest(REJECTED)
