"""Everything an evaluation keeps while items stream past: per-model metric accumulators, the
pairwise comparison, the sample selection and counters. Mergeable and JSON-serialisable, so a
chunk processed anywhere (a CLI run, an SQS worker) folds into the same totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.evaluation.answers import Answer, ItemResult
from chalicelib.evaluation.judge import JudgePlan
from chalicelib.evaluation.judge_stats import JudgeTotals
from chalicelib.evaluation.metrics import ModelComparison, ModelMetrics, Outcome, Pricing
from chalicelib.evaluation.samples import DEFAULT_SAMPLES, SampleSelector
from chalicelib.evaluation.scoring import MATCH, MISMATCH
from chalicelib.evaluation.text_metrics import text_scores

STATE_VERSION = 1
_COUNTERS = ("n_items", "n_items_with_errors", "n_answers_cached", "model_calls")


def _text_scores(answer: Answer, reference: str) -> tuple[float, ...] | None:
    """A text deployment's scored answer (scoring's match/mismatch with no parsed prediction)
    against the item's reference, the last assistant turn for a conversation."""
    if (
        answer.status != "ok"
        or answer.output is None
        or answer.prediction is not None
        or answer.key not in (MATCH, MISMATCH)
        or answer.reference.key != MATCH
    ):
        return None
    return text_scores(answer.output, reference)


class EvaluationTotals:
    def __init__(
        self,
        models: Sequence[str],
        *,
        samples: int = DEFAULT_SAMPLES,
        seed: int = 0,
        judged: bool = False,
    ) -> None:
        self.models = list(models)
        self.seed = seed
        self.metrics = {model: ModelMetrics() for model in self.models}
        self.comparison = ModelComparison(self.models)
        self.samples = SampleSelector(samples, seed)
        self.n_items = 0
        self.n_items_with_errors = 0
        self.n_answers_cached = 0
        self.model_calls = 0
        #: The judge's verdicts (None: the run has no judge).
        self.judge = JudgeTotals(self.models) if judged else None

    def add(self, result: ItemResult) -> None:
        item = result.item
        outcomes: dict[str, Outcome] = {}
        for answer in result.answers:
            self.metrics[answer.model].add(
                answer.reference.key,
                answer.key,
                answer.status,
                reference_value=answer.reference.value,
                predicted_value=answer.value,
                latency_ms=answer.latency_ms,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                category=item.category,
                text_scores=_text_scores(answer, item.reference),
            )
            outcomes[answer.model] = Outcome(answer.key, answer.status, answer.value)
            self.n_answers_cached += answer.cached
            self.model_calls += answer.attempts
        if len(self.models) > 1:
            first = result.answers[0].reference
            self.comparison.add(first.key, outcomes, reference_value=first.value)
        if self.judge is not None:
            self.judge.add(item.category, result.judgements)
        self.samples.offer(result)
        self.n_items += 1
        self.n_items_with_errors += result.has_error

    def merge(self, other: EvaluationTotals) -> EvaluationTotals:
        if other.models != self.models:
            raise ValueError("cannot merge totals of different model lists")
        for model in self.models:
            self.metrics[model].merge(other.metrics[model])
        self.comparison.merge(other.comparison)
        self.samples.merge(other.samples)
        if (self.judge is None) != (other.judge is None):
            raise ValueError("cannot merge judged totals with totals without a judge")
        if self.judge is not None and other.judge is not None:
            self.judge.merge(other.judge)
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "models": self.models,
            "seed": self.seed,
            "metrics": {model: self.metrics[model].to_state() for model in self.models},
            "comparison": self.comparison.to_state(),
            "samples": self.samples.to_state(),
            "judge": None if self.judge is None else self.judge.to_state(),
            **{name: getattr(self, name) for name in _COUNTERS},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EvaluationTotals:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported totals state version {state.get('version')!r}")
        totals = cls(state["models"], seed=int(state["seed"]))
        totals.metrics = {m: ModelMetrics.from_state(state["metrics"][m]) for m in totals.models}
        totals.comparison = ModelComparison.from_state(state["comparison"])
        totals.samples = SampleSelector.from_state(state["samples"])
        for name in _COUNTERS:
            setattr(totals, name, int(state[name]))
        judge = state.get("judge")
        totals.judge = None if judge is None else JudgeTotals.from_state(judge)
        return totals

    def results(
        self,
        pricing: Mapping[str, Pricing | None] | None = None,
        *,
        resamples: int = 1000,
        judge: JudgePlan | None = None,
    ) -> dict[str, Any]:
        """`results`, `comparison` and `samples` as CONTRACT section 1 and 5 define them, and
        `judge` (section 10) when the run has a judge."""
        prices = pricing or {}
        body = {
            "results": {
                model: self.metrics[model].result(
                    prices.get(model), seed=self.seed, resamples=resamples
                )
                for model in self.models
            },
            "comparison": self.comparison.result(),
            "samples": self.samples.samples(),
        }
        if judge is not None and self.judge is not None:
            body["judge"] = self.judge.result(judge, seed=self.seed, resamples=resamples)
        return body
