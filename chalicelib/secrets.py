"""Keys and secrets: from the environment locally, from SSM / Secrets Manager when deployed
(fetched lazily and cached, so a warm Lambda asks once per cache period)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from chalicelib.errors import ConfigurationError, Unauthorized
from chalicelib.settings import Settings, split_key_hashes

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
        return frozenset(split_key_hashes(str(value)))
    return settings.api_key_hashes


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def known_key_hash(presented: str, known_hashes: Iterable[str]) -> str | None:
    """The key's SHA-256 if it is one of `known_hashes` (each compared in constant time)."""
    digest = hash_api_key(presented)
    return digest if any(hmac.compare_digest(digest, k) for k in known_hashes) else None


def require_api_key(presented: str | None, settings: Settings) -> None:
    if not presented:
        raise Unauthorized(MISSING_API_KEY)
    if known_key_hash(presented, api_key_hashes(settings)) is None:
        raise Unauthorized(INVALID_API_KEY)


def feedback_token_secret(settings: Settings) -> bytes:
    if settings.feedback_token_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(settings.feedback_token_secret_arn, max_age=_CACHE_SECONDS)
        return str(value).encode()
    if not settings.feedback_token_secret:
        raise ConfigurationError("FEEDBACK_TOKEN_SECRET or FEEDBACK_TOKEN_SECRET_ARN must be set")
    return settings.feedback_token_secret.encode()
