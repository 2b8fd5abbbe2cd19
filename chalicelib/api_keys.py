"""Create API keys: the key is shown once; only its SHA-256 is ever stored."""

from __future__ import annotations

import secrets

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.secrets import hash_api_key

KEY_PREFIX = "tg_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def add_key_hash(parameter: str, digest: str) -> int:
    """Append `digest` to the SSM SecureString of key hashes (created if missing); returns the
    number of hashes now stored."""
    ssm = aws.client("ssm")
    try:
        current = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
        current = ""
    hashes = [h for h in current.split(",") if h.strip()]
    if digest not in hashes:
        hashes.append(digest)
    ssm.put_parameter(Name=parameter, Value=",".join(hashes), Type="SecureString", Overwrite=True)
    return len(hashes)


def create_api_key(parameter: str | None) -> tuple[str, str, int | None]:
    """(key, its hash, hashes stored in `parameter` or None when there is no parameter)."""
    key = new_api_key()
    digest = hash_api_key(key)
    stored = add_key_hash(parameter, digest) if parameter else None
    return key, digest, stored
