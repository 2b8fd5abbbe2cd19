"""The tuning routes' request and response bodies (CONTRACT section 8)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Inline records per data set: a body holds at most the jobs' MAX_BODY (5 MiB) anyway.
MAX_INLINE_RECORDS = 100_000


class DataSource(BaseModel):
    """Training or validation data: an object under an allowed S3 prefix, or records inline."""

    model_config = ConfigDict(extra="forbid")

    s3_uri: str | None = Field(default=None, min_length=6, max_length=1024)
    records: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_INLINE_RECORDS)

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.s3_uri is None) == (self.records is None):
            raise ValueError("give exactly one of s3_uri or records")
        return self


class VpcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subnet_ids: list[str] = Field(min_length=1, max_length=16)
    security_group_ids: list[str] = Field(min_length=1, max_length=5)


class TuningJobRequest(BaseModel):
    """`POST /v1/tuning-jobs`. `prompt` and `output` are kept for registering the tuned model
    (a later deployment version); `pricing` overrides the price table's row."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*)$")
    provider: Literal["bedrock", "openai"]
    base_model: str = Field(min_length=1, max_length=2048)
    training: DataSource
    validation: DataSource | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict, max_length=20)
    max_cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    pricing: dict[str, float] | None = None
    prompt: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    kms_key_id: str | None = Field(default=None, max_length=2048)
    vpc_config: VpcConfig | None = None


class TuningJobAccepted(BaseModel):
    tuning_job_id: str
    status: str
    estimated_cost_usd: float


class TuningJobView(BaseModel):
    """One tuning job as `GET /v1/tuning-jobs/{id}` shows it (more fields may appear)."""

    model_config = ConfigDict(extra="allow")

    tuning_job_id: str
    name: str
    provider: str
    base_model: str
    status: Literal["queued", "running", "succeeded", "failed", "stopped"]
    hyperparameters: dict[str, Any]
    data: dict[str, Any]
    estimated_cost_usd: float
    actual_cost_usd: float | None = None
    custom_model: str | None = None
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    failure_message: str | None = None
    lineage: dict[str, Any]
    created_at: str


class TuningJobList(BaseModel):
    tuning_jobs: list[TuningJobView]


class TuningJobsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
