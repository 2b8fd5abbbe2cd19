"""S3 as a customization job sees it: boto3 with the standard endpoint variables the emulator
process was started with (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`: the moto server locally)."""

from __future__ import annotations

from typing import Any


class S3Problem(Exception):
    """An object that cannot be read or written, in words a failureMessage can carry."""


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise S3Problem(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise S3Problem(f"{uri!r} names no bucket")
    return bucket, key


def _s3() -> Any:
    """A fresh session per call: thread-safe, and it reads the endpoint variables as they are
    now (tests export them after the emulator starts)."""
    import boto3

    return boto3.session.Session().client("s3")


def read(uri: str) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_uri(uri)
    try:
        body: bytes = _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        raise S3Problem(f"could not read {uri}: {code}") from None
    except BotoCoreError as error:
        raise S3Problem(f"could not read {uri}: {error}") from None
    return body


def write(uri: str, body: bytes, content_type: str = "text/csv") -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_uri(uri)
    try:
        _s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        raise S3Problem(f"could not write {uri}: {code}") from None
    except BotoCoreError as error:
        raise S3Problem(f"could not write {uri}: {error}") from None


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])
