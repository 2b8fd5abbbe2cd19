"""Where a dataset comes from: a local path or an `s3://bucket/key` object, streamed line by line
(S3 through the process-wide client, so a moto server or real S3 alike)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib import aws
from chalicelib.evaluation.datasets import Dataset

_CHUNK = 1 << 16


class SourceError(OSError):
    """The dataset could not be read at all (missing object, no access, bad URI)."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise SourceError(f"{uri}: expected s3://bucket/key")
    return bucket, key


def s3_lines(bucket: str, key: str) -> Iterator[bytes]:
    """The object's lines (split on b"\\n" only), read in chunks: memory stays constant."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        body: Any = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"s3://{bucket}/{key}: cannot read ({code})") from exc
    except BotoCoreError as exc:
        raise SourceError(f"s3://{bucket}/{key}: cannot read ({exc})") from exc
    pending = b""
    try:
        for chunk in body.iter_chunks(_CHUNK):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line + b"\n"
    finally:
        body.close()
    if pending:
        yield pending


def open_dataset(spec: str, **options: Any) -> Dataset:
    """A Dataset for a local path or an s3:// URI; options go to Dataset (check, skipping)."""
    if spec.startswith("s3://"):
        bucket, key = parse_s3_uri(spec)
        return Dataset(spec, lambda: s3_lines(bucket, key), **options)
    return Dataset.from_path(spec, **options)
