"""Request and response bodies of the HTTP API: strict pydantic models (unknown fields and
wrong types are a 400, never coerced)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.config.registry import MAX_TOKENS_CEILING, OutputSpec, StopSequences


class RequestBody(BaseModel):
    """Base of every request body (invoke, feedback, evaluation jobs): unknown fields and wrong
    types are a 400, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Parameters(RequestBody):
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_CEILING)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop: StopSequences | None = None


class ChatMessage(RequestBody):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


MetadataKey = Annotated[str, Field(min_length=1, max_length=128)]
MetadataValue = Annotated[str, Field(max_length=1024)]


class InvokeRequest(RequestBody):
    input: str | None = Field(default=None, min_length=1)
    messages: list[ChatMessage] | None = Field(default=None, min_length=1, max_length=100)
    system: str | None = Field(default=None, max_length=20000)
    parameters: Parameters = Field(default_factory=Parameters)
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=20)
    #: Sticky routing (e.g. a user id): the same key gets the same version of a split alias
    #: while its routing is unchanged; without one the version is chosen at random by weight.
    routing_key: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_input(self) -> InvokeRequest:
        if (self.input is None) == (self.messages is None):
            raise ValueError("send exactly one of 'input' or 'messages'")
        if self.messages is not None and self.messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        return self

    def text_length(self) -> int:
        texts = [self.input or "", self.system or ""]
        texts += [m.content for m in self.messages or []]
        return sum(len(t) for t in texts)


class _Deferred(BaseModel):
    """Models off the invoke path (the OpenAPI document's response shapes, /v1/models): pydantic
    builds their validators on first use instead of at import (7-10 ms of a cold start on the
    loaded bench machine)."""

    model_config = ConfigDict(defer_build=True)


class Usage(BaseModel):
    input_tokens: int | None
    output_tokens: int | None


class InvokeResponse(BaseModel):
    invocation_id: str
    model: str
    #: The alias's version that answered (CONTRACT section 7).
    version: int | None = None
    output: str
    prediction: str | float | None
    valid: bool
    latency_ms: float
    usage: Usage
    feedback_token: str


class ModelSummary(_Deferred):
    name: str
    provider: str
    request_format: str
    output: OutputSpec


class HealthResponse(_Deferred):
    """200 with "ok"; 503 with "degraded" when a dependency cannot be reached (named in
    `checks`)."""

    status: Literal["ok", "degraded"]
    version: str
    stage: str
    checks: dict[str, Literal["ok", "unreachable"]]


class OpenAIModelEntry(_Deferred):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelsResponse(_Deferred):
    """Tunegate's `models` and, for OpenAI clients, `object` + `data` (CONTRACT section 9)."""

    object: Literal["list"]
    data: list[OpenAIModelEntry]
    models: list[ModelSummary]


class FeedbackResponse(_Deferred):
    invocation_id: str
    model: str
    updated_at: str
    rating: int | None = None
    thumbs: Literal["up", "down"] | None = None
    comment: str | None = None
    correction: str | None = None
    correction_source: Literal["public"] | None = Field(
        default=None,
        description="Where the correction came from: `public` is this token-authorised route.",
    )
    revision: int
    created_at: str | None = None


class RatingSummary(_Deferred):
    mean: float | None
    distribution: dict[str, int]


class ThumbsSummary(_Deferred):
    up: int
    down: int
    up_rate: float | None


class FeedbackSummaryResponse(_Deferred):
    model: str
    count: int
    rating: RatingSummary
    thumbs: ThumbsSummary


class Progress(_Deferred):
    total: int | None
    done: int
    errors: int


JobStatus = Literal[
    "queued", "running", "succeeded", "completed_with_errors", "failed", "cancelled"
]


class EvaluationAccepted(_Deferred):
    """The answer to create, retry and cancel (202 + Location)."""

    evaluation_id: str
    status: JobStatus


class EvaluationStatus(_Deferred):
    """The job as GET returns it; results appear once the job has finished."""

    evaluation_id: str
    status: JobStatus
    models: list[str]
    #: The version each name resolved to at submission (a bare alias: its champion then).
    versions: dict[str, int] | None = None
    dataset: dict[str, Any]
    progress: Progress
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    results: dict[str, Any] | None = None
    comparison: list[dict[str, Any]] | None = None
    samples: list[dict[str, Any]] | None = None
    links: dict[str, str]
    error: Any = None


class ItemsPage(_Deferred):
    items: list[dict[str, Any]]
    next_cursor: str | None = None
