"""Turn a raw answer and a reference into what the metric accumulators count, with THE parser
(`chalicelib.serving.parsing`) so a scored prediction equals the one invoke serves.

- `label`: the reference is normalised like an answer and mapped to the registry's spelling of
  that label when there is one; `values` give both sides a number for MAE.
- `number`: the reference's first number; classes are the canonical values (see metrics).
- `text`: exact match after normalisation; the class is "match" or "mismatch", so only the
  accuracy is meaningful (free text has no label set to build a confusion matrix over).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from chalicelib.config.registry import Deployment, OutputSpec
from chalicelib.serving.parsing import normalise_label, parse_number, parse_output

if TYPE_CHECKING:
    from chalicelib.evaluation.datasets import Item

MATCH, MISMATCH = "match", "mismatch"


@dataclass(frozen=True, slots=True)
class Reference:
    key: str | None
    value: float | None


@dataclass(frozen=True, slots=True)
class Scored:
    """One answer as metrics see it; `prediction` is what items.jsonl and the API show."""

    status: Literal["ok", "invalid"]
    prediction: str | float | None
    key: str | None
    value: float | None


def reference_problem(spec: OutputSpec, reference: str) -> str | None:
    """Why a reference cannot be scored by this output type (checked before any model call)."""
    if spec.type == "number" and parse_number(reference) is None:
        return f"the reference {reference[:40]!r} has no number (this deployment answers numbers)"
    return None


def read_reference(spec: OutputSpec, reference: str) -> Reference:
    if spec.type == "number":
        return Reference(None, parse_number(reference))
    if spec.type == "text":
        return Reference(MATCH, None)
    norm = normalise_label(reference)
    label = next((lab for lab in spec.labels if normalise_label(lab) == norm), None)
    if label is None:
        return Reference(norm, None)
    return Reference(label, spec.values.get(label))


def score(spec: OutputSpec, reference: str, text: str) -> Scored:
    if spec.type == "text":
        same = normalise_label(text) == normalise_label(reference)
        return Scored("ok", None, MATCH if same else MISMATCH, None)
    parsed = parse_output(spec, text)
    if not parsed.valid:
        return Scored("invalid", None, None, None)
    if spec.type == "number":
        return Scored("ok", parsed.prediction, None, parsed.value)
    return Scored("ok", parsed.prediction, str(parsed.prediction), parsed.value)


def reference_check(deployments: Sequence[Deployment]) -> Callable[[Item], str | None]:
    """Dataset lines whose reference a deployment cannot score fail validation, before any model
    call (the CLI and the jobs planner both check with this)."""

    def check(item: Item) -> str | None:
        for deployment in deployments:
            problem = reference_problem(deployment.output, item.reference)
            if problem:
                return f"{problem}: {deployment.name}"
        return None

    return check
