"""What the tuning service asks of a provider (Bedrock, OpenAI-compatible): start a job with an
idempotency token, read its state, stop it, fetch its loss metrics. Each adapter maps its
provider's statuses and errors onto these; nothing here stores anything."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chalicelib.tuning.loss import LossPoint

#: Contract statuses (CONTRACT section 8); `queued` and `running` are the live ones.
LIVE = ("queued", "running")


@dataclass(frozen=True)
class Submission:
    """Everything checked, ready for the provider: the job record (read-only) and the data."""

    job: Mapping[str, Any]
    training: Path
    validation: Path | None
    training_s3_uri: str
    validation_s3_uri: str | None
    output_s3_uri: str
    hyperparameters: Mapping[str, Any]
    kms_key_id: str | None = None
    vpc_config: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ProviderState:
    """A job as its provider reports it, in contract terms; `ids` are the provider's ids to
    keep on the record (set once, at submission)."""

    status: str
    custom_model: str | None = None
    failure_message: str | None = None
    trained_tokens: int | None = None
    ids: dict[str, Any] = field(default_factory=dict)


class TuningProvider(Protocol):
    def submit(self, submission: Submission) -> ProviderState: ...

    def read(self, job: Mapping[str, Any]) -> ProviderState: ...

    def stop(self, job: Mapping[str, Any]) -> None: ...

    def metrics(self, job: Mapping[str, Any]) -> list[LossPoint]: ...
