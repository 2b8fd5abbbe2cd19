"""Keys and secrets: from the environment locally, from SSM / Secrets Manager when deployed
(fetched lazily and cached, so a warm Lambda asks once per cache period)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from chalicelib.auth.scopes import KeyEntry, Scope, parse_key_entry
from chalicelib.config.settings import Settings, split_key_hashes
from chalicelib.errors import ConfigurationError, Forbidden, Unauthorized
from chalicelib.observability import logger

_CACHE_SECONDS = 300
# infra/resources.json answers with the same words at the gateway (tests/test_infra.py checks).
MISSING_API_KEY = "Missing API key: send it in the x-api-key header."
INVALID_API_KEY = "The API key is not valid."


def api_key_hashes(settings: Settings) -> frozenset[str]:
    """The stored key entries (`HASH` or `HASH:scope+scope`)."""
    if settings.api_key_hashes_parameter:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(
            settings.api_key_hashes_parameter, decrypt=True, max_age=_CACHE_SECONDS
        )
        return frozenset(split_key_hashes(str(value)))
    return settings.api_key_hashes


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def known_key(presented: str, stored_entries: Iterable[str]) -> KeyEntry | None:
    """The stored entry of the presented key, if any (every digest compared in constant time).

    An entry that does not parse (a hand-edited SSM value) grants nothing and is logged: the
    other keys keep working, and no request can turn a bad entry into a 500."""
    digest = hash_api_key(presented)
    found: KeyEntry | None = None
    for text in stored_entries:
        try:
            entry = parse_key_entry(text)
        except ValueError as exc:
            logger.warning("ignored a malformed API key entry", extra={"reason": str(exc)})
            continue
        if hmac.compare_digest(digest, entry.digest):
            found = entry
    return found


def require_api_key(presented: str | None, settings: Settings, scope: Scope) -> KeyEntry:
    """The caller's key entry; 401 for a missing or unknown key, 403 when it lacks `scope`."""
    if not presented:
        raise Unauthorized(MISSING_API_KEY)
    entry = known_key(presented, api_key_hashes(settings))
    if entry is None:
        raise Unauthorized(INVALID_API_KEY)
    if not entry.allows(scope):
        raise Forbidden(f"This API key lacks the {scope!r} scope this route needs.")
    return entry


def feedback_token_secret(settings: Settings) -> bytes:
    if settings.feedback_token_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(settings.feedback_token_secret_arn, max_age=_CACHE_SECONDS)
        return str(value).encode()
    if not settings.feedback_token_secret:
        raise ConfigurationError("FEEDBACK_TOKEN_SECRET or FEEDBACK_TOKEN_SECRET_ARN must be set")
    return settings.feedback_token_secret.encode()
