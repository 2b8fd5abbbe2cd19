"""Tuning data and outputs in the stage's results bucket, under `tuning/<tuning job id>/`.

The checked bytes are what the provider trains on: data given as an S3 URI is read once,
checked, and copied here, so the customization role reads only the `tuning/` prefix and no
object can change between the check and the training.
"""

from __future__ import annotations

from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.config.settings import get_settings
from chalicelib.errors import InvalidRequest, ServiceUnavailable

PREFIX = "tuning/"
UNAVAILABLE = "The results bucket cannot be reached right now; try again shortly."


def bucket() -> str:
    return get_settings().results_bucket


def split(uri: str) -> tuple[str, str]:
    bucket_name, _, key = uri.removeprefix("s3://").partition("/")
    return bucket_name, key


def job_prefix(tuning_job_id: str) -> str:
    return f"s3://{bucket()}/{PREFIX}{tuning_job_id}/"


def allowed_sources() -> tuple[str, ...]:
    """Where `training.s3_uri` may point: the evaluation datasets' prefixes (EVALUATION_
    DATASET_PREFIXES, by default the bucket's `datasets/`) and the bucket's `tuning/`."""
    settings = get_settings()
    datasets = settings.jobs.dataset_prefixes or (f"s3://{settings.results_bucket}/datasets/",)
    return (*datasets, f"s3://{settings.results_bucket}/{PREFIX}")


def check_source(uri: str, field: str) -> None:
    prefixes = allowed_sources()
    reason = None
    if not uri.startswith(prefixes):
        reason = f"must start with {' or '.join(prefixes)}"
    elif {".", ".."} & set(uri.removeprefix("s3://").split("/")):
        reason = "must not hold . or .. segments"
    if reason:
        raise InvalidRequest(
            "The data is not in a location this service reads tuning data from.",
            details=[{"field": field, "reason": reason}],
        )


def download(uri: str, path: Path, field: str) -> None:
    """The object at `uri` into `path`; 400 naming `field` when it does not exist."""
    bucket_name, key = split(uri)
    try:
        body = aws.client("s3").get_object(Bucket=bucket_name, Key=key)["Body"]
        with path.open("wb") as handle:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                handle.write(chunk)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "403"):
            raise InvalidRequest(
                "The data object does not exist.",
                details=[{"field": field, "reason": f"no object at {uri}"}],
            ) from exc
        raise ServiceUnavailable(UNAVAILABLE, retry_after=5) from exc
    except BotoCoreError as exc:
        raise ServiceUnavailable(UNAVAILABLE, retry_after=5) from exc


def upload(path: Path, uri: str) -> None:
    bucket_name, key = split(uri)
    try:
        aws.client("s3").put_object(
            Bucket=bucket_name,
            Key=key,
            Body=path.read_bytes(),
            ContentType="application/x-ndjson",
        )
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable(UNAVAILABLE, retry_after=5) from exc


def read_text(uri: str) -> str | None:
    """The object's text, None when it is not there (yet)."""
    bucket_name, key = split(uri)
    try:
        body = aws.client("s3").get_object(Bucket=bucket_name, Key=key)["Body"].read()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey"):
            return None
        raise ServiceUnavailable(UNAVAILABLE, retry_after=5) from exc
    except BotoCoreError as exc:
        raise ServiceUnavailable(UNAVAILABLE, retry_after=5) from exc
    return bytes(body).decode("utf-8", "replace")
