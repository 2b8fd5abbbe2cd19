"""Create and revoke API keys: a key is shown once; only its SHA-256 (with the key's scopes,
chalicelib/auth/scopes.py) is ever stored."""

from __future__ import annotations

import secrets

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.auth.keys import hash_api_key
from chalicelib.auth.scopes import SCOPES, KeyEntry, Scope
from chalicelib.config.settings import split_key_hashes

KEY_PREFIX = "tg_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


# SSM refuses an empty value: a list with no hash left is stored as this (parsed as empty).
NO_HASHES = ","


def _stored_hashes(parameter: str) -> list[str]:
    try:
        value = aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
        return []
    return split_key_hashes(value["Parameter"]["Value"])


def _store_hashes(parameter: str, hashes: list[str]) -> None:
    value = ",".join(hashes) or NO_HASHES
    aws.client("ssm").put_parameter(
        Name=parameter, Value=value, Type="SecureString", Overwrite=True
    )


def _digest_of(entry: str) -> str:
    return entry.partition(":")[0]


def add_key_hash(parameter: str, entry: str) -> int:
    """Store `entry` (`HASH` or `HASH:scope+scope`) in the SSM SecureString of key entries
    (created if missing), replacing an entry of the same hash; returns the entries now stored."""
    digest = _digest_of(entry)
    hashes = [h for h in _stored_hashes(parameter) if _digest_of(h) != digest] + [entry]
    _store_hashes(parameter, hashes)
    return len(hashes)


def remove_key_hash(parameter: str, digest: str) -> bool:
    """Take the entry of `digest` (whatever its scopes) out of the stored ones; False when it
    was not there."""
    hashes = _stored_hashes(parameter)
    kept = [h for h in hashes if _digest_of(h) != digest]
    if len(kept) == len(hashes):
        return False
    _store_hashes(parameter, kept)
    return True


def remove_from_gateway(digest: str) -> int:
    """Delete the API Gateway keys whose value is `digest` (usage-plan keys made by
    `create-api-key --usage-plan-id`); returns how many were deleted."""
    apigateway = aws.client("apigateway")
    doomed: list[str] = []
    position: str | None = None
    while True:
        page = apigateway.get_api_keys(
            includeValues=True, limit=500, **({"position": position} if position else {})
        )
        doomed += [k["id"] for k in page.get("items", []) if k.get("value") == digest]
        position = page.get("position")
        if not position:
            break
    for key_id in doomed:
        apigateway.delete_api_key(apiKey=key_id)
    return len(doomed)


def add_to_usage_plan(usage_plan_id: str, digest: str, name: str) -> str:
    """Register `digest` as an API Gateway key in the usage plan; returns the key's id.

    The API Gateway key's value is the hash, never the key: the deployed API's authorizer
    names the hash as the request's usage identifier (chalicelib/auth/authorizer.py)."""
    apigateway = aws.client("apigateway")
    created = apigateway.create_api_key(
        name=name, value=digest, enabled=True, description="Tunegate key (value is its SHA-256)"
    )
    try:
        apigateway.create_usage_plan_key(
            usagePlanId=usage_plan_id, keyId=created["id"], keyType="API_KEY"
        )
    except ClientError:
        apigateway.delete_api_key(apiKey=created["id"])  # leave nothing half made
        raise
    return str(created["id"])


def create_api_key(
    parameter: str | None,
    usage_plan_id: str | None = None,
    stage: str = "local",
    scopes: frozenset[Scope] = frozenset(SCOPES),
) -> tuple[str, str, int | None]:
    """(key, its stored entry `HASH[:scope+scope]`, entries stored in `parameter` or None when
    there is no parameter).

    The usage plan comes first (a stored hash the plan lacks would be refused at the gateway),
    and is undone if storing the hash fails: nothing is left half made."""
    key = new_api_key()
    entry = KeyEntry(hash_api_key(key), scopes)
    plan_key = None
    if usage_plan_id:
        plan_key = add_to_usage_plan(
            usage_plan_id, entry.digest, name=f"tunegate-{stage}-{entry.owner}"
        )
    try:
        stored = add_key_hash(parameter, entry.entry()) if parameter else None
    except Exception:
        if usage_plan_id and plan_key:
            apigateway = aws.client("apigateway")
            apigateway.delete_usage_plan_key(usagePlanId=usage_plan_id, keyId=plan_key)
            apigateway.delete_api_key(apiKey=plan_key)
        raise
    return key, entry.entry(), stored


def revoke_api_key(parameter: str | None, digest: str, *, gateway: bool) -> tuple[bool, int]:
    """(hash removed from `parameter`, API Gateway keys deleted). The hash goes first: from
    then on the app and the authorizer refuse the key once their caches expire."""
    removed = remove_key_hash(parameter, digest) if parameter else False
    deleted = remove_from_gateway(digest) if gateway else 0
    return removed, deleted
