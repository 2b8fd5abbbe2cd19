"""Keys and secrets: from the environment locally, from SSM / Secrets Manager when deployed
(fetched lazily and cached, so a warm Lambda asks once per cache period)."""

from __future__ import annotations

import hashlib
import hmac

from chalicelib.errors import ConfigurationError, Unauthorized
from chalicelib.settings import Settings

_CACHE_SECONDS = 300
# infra/resources.json answers with the same words at the gateway (tests/test_infra.py checks).
MISSING_API_KEY = "Missing API key: send it in the x-api-key header."
INVALID_API_KEY = "The API key is not valid."


def api_key_hashes(settings: Settings) -> frozenset[str]:
    if settings.api_key_hashes_parameter:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(
            settings.api_key_hashes_parameter, decrypt=True, max_age=_CACHE_SECONDS
        )
        return frozenset(p.strip().lower() for p in str(value).split(",") if p.strip())
    return settings.api_key_hashes


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def require_api_key(presented: str | None, settings: Settings) -> None:
    """Compare the key's SHA-256 against every stored hash in constant time."""
    if not presented:
        raise Unauthorized(MISSING_API_KEY)
    digest = hash_api_key(presented)
    if not any(hmac.compare_digest(digest, known) for known in api_key_hashes(settings)):
        raise Unauthorized(INVALID_API_KEY)


def feedback_token_secret(settings: Settings) -> bytes:
    if settings.feedback_token_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(settings.feedback_token_secret_arn, max_age=_CACHE_SECONDS)
        return str(value).encode()
    if not settings.feedback_token_secret:
        raise ConfigurationError("FEEDBACK_TOKEN_SECRET or FEEDBACK_TOKEN_SECRET_ARN must be set")
    return settings.feedback_token_secret.encode()
