"""What the runner produces per item: every deployment's answer, scored, in a JSON-able form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from chalicelib.evaluation.datasets import Item
from chalicelib.evaluation.judge import Judgement
from chalicelib.evaluation.metrics import Status
from chalicelib.evaluation.scoring import Reference


@dataclass(frozen=True, slots=True)
class Answer:
    """One deployment's answer to one item. `key`/`value` are the predicted class and number as
    metrics count them; `reference` is the item's reference read for this deployment."""

    model: str
    status: Status
    reference: Reference
    output: str | None = None
    prediction: str | float | None = None
    key: str | None = None
    value: float | None = None
    error_code: str | None = None
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 0
    cached: bool = False

    def to_record(self) -> dict[str, Any]:
        """`asdict` without its deep copies (every field is a plain value but `reference`)."""
        record = {name: getattr(self, name) for name in _ANSWER_FIELDS}
        record["reference"] = {"key": self.reference.key, "value": self.reference.value}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Answer:
        fields = dict(record)
        fields["reference"] = Reference(**record["reference"])
        return cls(**fields)


_ANSWER_FIELDS = tuple(f.name for f in fields(Answer))


@dataclass(frozen=True, slots=True)
class ItemResult:
    """An item's answers and, when the run has a judge, what the judge said about them."""

    item: Item
    answers: tuple[Answer, ...]
    judgements: tuple[Judgement, ...] = ()

    @property
    def has_error(self) -> bool:
        """An answer or a judge call failed (a retry round asks again)."""
        return any(a.status == "error" for a in self.answers) or any(
            j.status == "error" for j in self.judgements
        )

    def to_record(self) -> dict[str, Any]:
        record = {"item": self.item.to_record(), "answers": [a.to_record() for a in self.answers]}
        if self.judgements:
            record["judgements"] = [j.to_record() for j in self.judgements]
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ItemResult:
        return cls(
            Item.from_record(record["item"]),
            tuple(Answer.from_record(a) for a in record["answers"]),
            tuple(Judgement.from_record(j) for j in record.get("judgements", ())),
        )
