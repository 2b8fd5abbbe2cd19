"""Evaluation-job tuning read once from the environment (EVALUATION_*); a bad value fails at start.

The per-job cap on concurrent model calls is `chunks_in_flight` x `chunk_concurrency`: only that
many chunks of one job are queued or running at a time, each with that many calls in flight.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationError, field_validator

from chalicelib.errors import ConfigurationError

#: SQS receives before a message goes to the dead-letter queue (bootstrap and template: 5).
MAX_RECEIVES = 5
#: A failed message comes back after this many seconds, doubling per delivery.
RETRY_DELAY_SECONDS = 10
#: The worker's Lambda timeout: a finaliser's claim older than this belongs to a dead worker.
WORKER_TIMEOUT_SECONDS = 900


class JobSettings(BaseModel):
    chunk_size: int = Field(default=100, ge=1, le=1000)
    chunks_in_flight: int = Field(default=4, ge=1, le=100)
    chunk_concurrency: int = Field(default=8, ge=1, le=50)
    #: Inline datasets (up to 1000 records) need more room than other bodies.
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=6 * 1024 * 1024)
    #: Answer-cache records only serve resumption; they expire after this many days.
    cache_ttl_days: int = Field(default=7, ge=1)
    #: A job's objects (inline dataset, chunks, outputs) expire this many days after they are
    #: written: the results bucket's lifecycle rule (bootstrap; the template's
    #: EvaluationRetentionDays parameter, same default, for deployed stages).
    retention_days: int = Field(default=90, ge=1, le=36500)
    #: Where `dataset.s3_uri` may point (comma-separated s3:// prefixes). Empty: the results
    #: bucket's `datasets/` folder. Without it a job could read any object the worker can,
    #: other jobs' results included.
    dataset_prefixes: tuple[str, ...] = ()

    @field_validator("dataset_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("dataset_prefixes")
    @classmethod
    def _s3_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        prefixes = []
        for prefix in value:
            bucket, slash, _ = prefix.removeprefix("s3://").partition("/")
            if not prefix.startswith("s3://") or not bucket:
                raise ValueError(f"{prefix!r} is not an s3://bucket/prefix")
            prefixes.append(prefix if slash else prefix + "/")  # a bare bucket: all of it
        return tuple(prefixes)

    #: The queue's visibility timeout when `bootstrap` creates it: at least the worker's Lambda
    #: timeout on AWS (deployed stages get theirs from infra/resources.json); the local stage
    #: sets a short one, so a killed worker's chunk comes back in seconds, not 15 minutes
    #: (scripts/worker.py extends it while a chunk runs).
    queue_visibility_seconds: int = Field(default=WORKER_TIMEOUT_SECONDS, ge=1, le=43200)

    @property
    def max_concurrent_calls(self) -> int:
        return self.chunks_in_flight * self.chunk_concurrency


def job_settings_from_env(environ: dict[str, str] | None = None) -> JobSettings:
    env = os.environ if environ is None else environ
    values = {
        name: env[f"EVALUATION_{name.upper()}"]
        for name in JobSettings.model_fields
        if f"EVALUATION_{name.upper()}" in env
    }
    try:
        return JobSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"EVALUATION_{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"bad configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_job_settings() -> JobSettings:
    return job_settings_from_env()
