"""LLM-as-judge (CONTRACT section 10): the request's `judge` object, the versioned judge prompts,
the strict reading of a judge's answer and one judge call's record.

A judge is any registry deployment answering text. Its prompt is versioned (`rubric-v1`,
`pairwise-v1`): a change of wording is a new version, so results name the exact prompt their
scores came from. Its answer must be one JSON object of a fixed shape; anything else is counted
as `unreadable`, never guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib.api.models import RequestBody
from chalicelib.config.registry import Deployment
from chalicelib.errors import InvalidRequest, NotFound

JudgeMode = Literal["rubric", "pairwise"]
TaskKind = Literal["text", "labels"]
JudgeStatus = Literal["ok", "unreadable", "error"]
Winner = Literal["A", "B", "tie"]

PROMPT_VERSIONS: dict[str, str] = {"rubric": "rubric-v1", "pairwise": "pairwise-v1"}
MAX_CRITERIA = 8
MAX_RUBRIC_CHARS = 4000
MAX_REASON_CHARS = 500
#: The raw judge answer kept with an unreadable verdict (for whoever audits the judge).
MAX_KEPT_OUTPUT = 1000
CRITERION = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

DEFAULT_CRITERIA: dict[TaskKind, tuple[str, ...]] = {
    "text": ("correctness", "completeness", "clarity"),
    "labels": ("correctness",),
}
DEFAULT_RUBRICS: dict[TaskKind, str] = {
    "text": (
        "correctness: the answer states what the reference states, with nothing that "
        "contradicts it.\n"
        "completeness: the answer covers the points of the reference that the task asks for.\n"
        "clarity: the answer is one clear, fluent sentence that a reader understands at once."
    ),
    "labels": (
        "correctness: the answer names the same class as the reference (wording and case do "
        "not matter; hedged or several classes score low)."
    ),
}


class JudgeSpec(RequestBody):
    """The request's `judge` object (API body and the CLI's --judge options)."""

    model: str = Field(min_length=1, max_length=256)
    mode: JudgeMode
    rubric: str | None = Field(default=None, min_length=1, max_length=MAX_RUBRIC_CHARS)
    criteria: list[str] | None = Field(default=None, min_length=1, max_length=MAX_CRITERIA)
    #: Judge only the items with index < samples (the dataset's first N): bounds the judge's
    #: cost on a large set, the same items whichever chunk they fall in.
    samples: int | None = Field(default=None, ge=1, le=10_000_000)

    @field_validator("criteria")
    @classmethod
    def _criteria(cls, names: list[str] | None) -> list[str] | None:
        if names is None:  # an explicit null is the default
            return None
        bad = [n for n in names if not CRITERION.match(n)]
        if bad:
            raise ValueError(
                f"criterion names are lower-case identifiers ([a-z][a-z0-9_]*, at most 32 "
                f"characters); not {bad[0][:40]!r}"
            )
        if len(set(names)) != len(names):
            raise ValueError("each criterion may be listed once")
        return names


def task_kind(deployment: Deployment) -> TaskKind:
    """Free text, or a label/number answer (scored as a class against the reference)."""
    return "text" if deployment.output.type == "text" else "labels"


@dataclass(frozen=True)
class JudgePlan:
    """A validated judge: the deployment, the mode, the rubric and criteria it applies."""

    deployment: Deployment
    mode: JudgeMode
    kind: TaskKind
    rubric: str
    criteria: tuple[str, ...]
    custom_rubric: bool
    samples: int | None = None

    @property
    def prompt_version(self) -> str:
        return PROMPT_VERSIONS[self.mode]

    def to_json(self) -> dict[str, Any]:
        """What results.json and the report say about the judge itself."""
        return {
            "model": self.deployment.name,
            "mode": self.mode,
            "prompt_version": self.prompt_version,
            "task_kind": self.kind,
            "rubric": self.rubric,
            "custom_rubric": self.custom_rubric,
            "criteria": list(self.criteria),
            "samples": self.samples,
        }


def plan_judge(spec: JudgeSpec, judge: Deployment, models: Sequence[Deployment]) -> JudgePlan:
    """The judge for these models; ValueError (with the field) when it cannot judge them."""
    if judge.output.type != "text":
        raise JudgeConfigError("judge.model", "the judge must be a text deployment")
    if spec.mode == "pairwise" and len(models) < 2:
        raise JudgeConfigError("judge.mode", "pairwise judging needs two or more models")
    kind = task_kind(models[0])
    criteria = tuple(spec.criteria) if spec.criteria else DEFAULT_CRITERIA[kind]
    return JudgePlan(
        deployment=judge,
        mode=spec.mode,
        kind=kind,
        rubric=spec.rubric if spec.rubric is not None else DEFAULT_RUBRICS[kind],
        criteria=criteria,
        custom_rubric=spec.rubric is not None,
        samples=spec.samples,
    )


class JudgeConfigError(ValueError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


# --- prompts -------------------------------------------------------------------------------

_RUBRIC_V1 = """You are an impartial judge grading one answer to a task against a reference \
answer. Prompt version: rubric-v1.

Grade the answer on each criterion from 1 (poor) to 5 (excellent), following the rubric.
Reply with exactly one JSON object and nothing else, in this shape:
{{"scores": {{{shape}}}, "reason": "<one short sentence>"}}

<rubric>
{rubric}
</rubric>
<criteria>{criteria}</criteria>
<input>
{input}
</input>
<reference>
{reference}
</reference>
<answer>
{answer}
</answer>"""

_PAIRWISE_V1 = """You are an impartial judge comparing two answers to the same task against \
a reference answer. Prompt version: pairwise-v1.

Decide which answer is better by the rubric; do not let their order or length sway you.
Reply with exactly one JSON object and nothing else, in this shape:
{{"winner": "A" | "B" | "tie", "reason": "<one short sentence>"}}

<rubric>
{rubric}
</rubric>
<input>
{input}
</input>
<reference>
{reference}
</reference>
<answer_a>
{answer_a}
</answer_a>
<answer_b>
{answer_b}
</answer_b>"""

PROMPTS: dict[str, str] = {"rubric-v1": _RUBRIC_V1, "pairwise-v1": _PAIRWISE_V1}


def _fence(text: str) -> str:
    """Text placed inside a section: a closing tag in it cannot end the section early."""
    return text.replace("</", "< /")


def input_text(value: str | Sequence[Mapping[str, str]], system: str | None = None) -> str:
    """The item's input as the judge reads it: text, or the conversation turn by turn."""
    if isinstance(value, str):
        lines = [value]
    else:
        lines = [f"{turn['role']}: {turn['content']}" for turn in value]
    if system:
        lines.insert(0, f"system: {system}")
    return "\n".join(lines)


def rubric_prompt(plan: JudgePlan, task_input: str, reference: str, answer: str) -> str:
    shape = ", ".join(f'"{c}": <1-5>' for c in plan.criteria)
    return _RUBRIC_V1.format(
        shape=shape,
        rubric=_fence(plan.rubric),
        criteria=", ".join(plan.criteria),
        input=_fence(task_input),
        reference=_fence(reference),
        answer=_fence(answer),
    )


def pairwise_prompt(
    plan: JudgePlan, task_input: str, reference: str, answer_a: str, answer_b: str
) -> str:
    return _PAIRWISE_V1.format(
        rubric=_fence(plan.rubric),
        input=_fence(task_input),
        reference=_fence(reference),
        answer_a=_fence(answer_a),
        answer_b=_fence(answer_b),
    )


# --- reading the judge's answer ------------------------------------------------------------


def _object(text: str, keys: set[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(text.strip())
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or set(data) != keys:
        return None
    reason = data["reason"]
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
        return None
    return data


def parse_rubric(text: str, criteria: Sequence[str]) -> tuple[dict[str, int], str] | None:
    """`{"scores": {criterion: 1..5 for exactly the criteria}, "reason": text}`, else None."""
    data = _object(text, {"scores", "reason"})
    if data is None:
        return None
    scores = data["scores"]
    if not isinstance(scores, dict) or set(scores) != set(criteria):
        return None
    for value in scores.values():
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            return None
    return {c: int(scores[c]) for c in criteria}, data["reason"].strip()


def parse_pairwise(text: str) -> tuple[Winner, str] | None:
    """`{"winner": "A" | "B" | "tie", "reason": text}`, else None."""
    data = _object(text, {"winner", "reason"})
    if data is None or data["winner"] not in ("A", "B", "tie"):
        return None
    winner: Winner = data["winner"]
    return winner, data["reason"].strip()


# --- one judge call's record ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Judgement:
    """One judge call about one item. Rubric: `models` is the one model judged; pairwise: the
    models shown as answer A and answer B, in that order. `output` keeps the raw answer only
    when it was unreadable."""

    mode: JudgeMode
    models: tuple[str, ...]
    status: JudgeStatus
    scores: dict[str, int] | None = None
    winner: Winner | None = None
    reason: str | None = None
    output: str | None = None
    error_code: str | None = None
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 0
    cached: bool = False

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["models"] = list(self.models)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Judgement:
        values = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        values["models"] = tuple(record["models"])
        return cls(**values)


PairVerdict = Literal["first", "second", "tie", "unreadable", "error"]


def pair_verdict(shown_first: Judgement, shown_second: Judgement) -> PairVerdict:
    """The verdict on a pair (first, second) from the judge's two orders: (first as A, second
    as B) and (second as A, first as B). A winner must win in both orders; a verdict that flips
    with the order, or a tie in either, is a tie. An error or unreadable answer in either
    order leaves the pair undecided."""
    both = (shown_first, shown_second)
    if any(j.status == "error" for j in both):
        return "error"
    if any(j.status != "ok" for j in both):
        return "unreadable"
    one, two = shown_first.winner, shown_second.winner
    if one == "A" and two == "B":
        return "first"
    if one == "B" and two == "A":
        return "second"
    return "tie"


def resolve_judge(
    spec: JudgeSpec, lookup: Callable[[str], Deployment], models: Sequence[Deployment]
) -> JudgePlan:
    """The judge plan, checked before any model call: InvalidRequest names the field (an
    unknown judge deployment, a judge that does not answer text, pairwise with one model)."""
    try:
        deployment = lookup(spec.model)
    except NotFound:
        raise InvalidRequest(
            f"No deployment named {spec.model!r} to judge with.",
            details=[{"field": "judge.model", "reason": f"unknown model {spec.model!r}"}],
        ) from None
    try:
        return plan_judge(spec, deployment, models)
    except JudgeConfigError as exc:
        raise InvalidRequest(
            f"The judge cannot judge this evaluation: {exc.reason}.",
            details=[{"field": exc.field, "reason": exc.reason}],
        ) from None


def stored_spec(stored: Mapping[str, Any]) -> JudgeSpec:
    """A job record's `judge` back as a spec (storage may hand numbers back as decimals)."""
    return JudgeSpec.model_validate(dict(stored), strict=False)
