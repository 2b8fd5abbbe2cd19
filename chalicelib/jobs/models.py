"""What an evaluation job is: the API's request bodies, the stored job and chunk records, the queue
messages between the steps, and the job-specific errors. No I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.api.models import RequestBody
from chalicelib.errors import InvalidState as InvalidState  # re-exported: jobs raise it
from chalicelib.errors import TunegateError
from chalicelib.evaluation.judge import JudgeSpec

Status = Literal["queued", "running", "succeeded", "completed_with_errors", "failed", "cancelled"]
ItemStatus = Literal["ok", "invalid", "error"]
#: Statuses a job never leaves by itself (only retry moves completed_with_errors on).
FINAL_STATUSES = frozenset({"succeeded", "completed_with_errors", "failed", "cancelled"})
MAX_INLINE_RECORDS = 1000
MAX_MODELS = 10
MAX_SAMPLES = 200
#: Items one job may evaluate: far above any dataset a job finishes, far below what storage or
#: arithmetic would choke on (a 200-digit limit used to reach DynamoDB and come back as a 503).
MAX_LIMIT = 10_000_000
#: Dataset problems kept in the job record (the count is always complete).
MAX_STORED_PROBLEMS = 100


class ResultsNotReady(TunegateError):
    """The job has not written its results yet: ask again later (409 + Retry-After, not 404, so
    a client can tell "wait" from "no such evaluation")."""

    status, code = 409, "results_not_ready"


class DatasetSpec(RequestBody):
    s3_uri: str | None = Field(default=None, pattern=r"^s3://[^/]+/.+", max_length=2048)
    records: list[Any] | None = Field(default=None, max_length=MAX_INLINE_RECORDS)

    @model_validator(mode="after")
    def _exactly_one(self) -> DatasetSpec:
        if (self.s3_uri is None) == (self.records is None):
            raise ValueError("give exactly one of 's3_uri' or 'records'")
        return self


class EvaluationRequest(RequestBody):
    models: list[str] = Field(min_length=1, max_length=MAX_MODELS)
    dataset: DatasetSpec
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    seed: int = Field(default=0, ge=-(2**63), le=2**63 - 1)
    samples: int = Field(default=20, ge=0, le=MAX_SAMPLES)
    skip_invalid_lines: bool = False
    judge: JudgeSpec | None = None

    @field_validator("models")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"each model may be listed once; repeated: {', '.join(repeated)}")
        return names


class ItemsQuery(BaseModel):
    """Query strings arrive as text, so this model coerces (it is not strict)."""

    model_config = ConfigDict(extra="forbid")

    status: ItemStatus | None = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=100, ge=1, le=1000)


class ResultsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["lm-eval"] | None = None


@dataclass
class JobRecord:
    """The job (`pk = job#<id>`, `sk = meta`). Progress counters change only in the transaction
    that commits a chunk (and when a retry round takes back the chunks it re-runs).

    `round` counts retries (0 = first run); `schedule` lists the chunks a retry round re-runs
    (None: every chunk); `outputs_round` is the round whose files are in S3 (-1: none yet)."""

    evaluation_id: str
    status: Status
    models: list[str]
    dataset: str
    created_at: str
    chunk_size: int
    chunks_in_flight: int
    chunk_concurrency: int
    dataset_inline: bool = False
    limit: int | None = None
    seed: int = 0
    samples: int = 20
    skip_invalid_lines: bool = False
    round: int = 0
    planned_round: int = -1
    #: The round whose first window was sent (a repeated plan message sends it only if not).
    wave_round: int = -1
    total: int | None = None
    done: int = 0
    errors: int = 0
    n_chunks: int | None = None
    n_scheduled: int | None = None
    chunks_done: int = 0
    schedule: list[int] | None = None
    n_dataset_items: int | None = None
    skipped_lines: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: dict[str, Any] | None = None
    outputs_round: int = -1
    finalizer: str | None = None
    finalizer_until: float | None = None
    #: Hash prefix of the key that created the job (chalicelib/auth/scopes.py): only it, or a key
    #: with `admin`, sees the job. None (jobs from before owners were kept): `admin` only.
    owner: str | None = None
    #: The version each name of `models` resolved to at submission (`name@N`: N; a bare alias:
    #: its champion then); every step evaluates these. None: a job from before versions.
    versions: dict[str, int] | None = None
    #: The request's `judge` (JudgeSpec fields, None omitted); None: no judge.
    judge: dict[str, Any] | None = None

    @property
    def results_ready(self) -> bool:
        return self.status in FINAL_STATUSES and self.outputs_round == self.round

    @property
    def all_chunks_done(self) -> bool:
        return self.n_scheduled is not None and self.chunks_done >= self.n_scheduled

    def scheduled(self) -> list[int]:
        """The chunks the current round runs, in order."""
        if self.schedule is not None:
            return list(self.schedule)
        return list(range(self.n_chunks or 0))

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> JobRecord:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class ChunkRecord:
    """A committed chunk (`sk = chunk#<n>`): absent until its first commit. `count` items, of which
    `errors` have an error answer; results and totals are in S3 at `object_key`."""

    chunk: int
    round: int
    count: int
    errors: int
    object_key: str
    committed_at: str

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> ChunkRecord:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


MessageKind = Literal["plan", "chunk", "finalize"]


@dataclass(frozen=True)
class JobMessage:
    """An SQS message: plan a round, evaluate one chunk of a round, or finalise a cancelled job."""

    kind: MessageKind
    evaluation_id: str
    round: int
    chunk: int | None = None

    def body(self) -> str:
        data: dict[str, Any] = {"type": self.kind, "evaluation_id": self.evaluation_id}
        data["round"] = self.round
        if self.chunk is not None:
            data["chunk"] = self.chunk
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> JobMessage:
        """Raises ValueError for a message this code did not write."""
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("type") not in ("plan", "chunk", "finalize"):
            raise ValueError("not an evaluation job message")
        chunk = data.get("chunk")
        if data["type"] == "chunk" and not isinstance(chunk, int):
            raise ValueError("a chunk message needs an integer 'chunk'")
        evaluation_id, round_ = data.get("evaluation_id"), data.get("round")
        if not isinstance(evaluation_id, str) or not isinstance(round_, int):
            raise ValueError("a job message needs 'evaluation_id' and an integer 'round'")
        return cls(data["type"], evaluation_id, round_, chunk if data["type"] == "chunk" else None)
