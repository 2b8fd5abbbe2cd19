"""Judging one item after its models answered: the judge prompts for its answers (rubric: one
per answered model; pairwise: each pair in both orders), each sent through the runner's own
call path (cache, retries, concurrency limit), each answer read strictly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from chalicelib.evaluation.answers import Answer
from chalicelib.evaluation.cache import CachedAnswer
from chalicelib.evaluation.datasets import Item
from chalicelib.evaluation.judge import (
    MAX_KEPT_OUTPUT,
    Judgement,
    JudgePlan,
    input_text,
    pairwise_prompt,
    parse_pairwise,
    parse_rubric,
    rubric_prompt,
)
from chalicelib.formats import Prompt
from chalicelib.serving.prompting import render_prompt, resolve_params


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One request through the runner: the answer (None after the last failed attempt)."""

    answer: CachedAnswer | None
    attempts: int
    cached: bool
    error_code: str | None = None
    latency_ms: float | None = None


#: The runner's call path for one prompt to one deployment (Evaluator.call).
CallJudge = Callable[[Prompt], CallOutcome]


class Judge:
    """Judges items for one plan; `call` sends a rendered prompt to the judge deployment."""

    def __init__(self, plan: JudgePlan) -> None:
        self.plan = plan
        self.params = resolve_params(plan.deployment.inference)

    def wants(self, item: Item) -> bool:
        return self.plan.samples is None or item.index < self.plan.samples

    def prompt(self, text: str) -> Prompt:
        return render_prompt(self.plan.deployment.prompt, input_text=text)

    def prompts(self, item: Item, answers: Sequence[Answer]) -> list[tuple[tuple[str, ...], str]]:
        """(models judged, prompt text) for every judge call this item needs."""
        if not self.wants(item):
            return []
        shown = input_text(item.input_json(), item.system)
        usable = {
            a.model: a.output for a in answers if a.status != "error" and a.output is not None
        }
        plan = self.plan
        if plan.mode == "rubric":
            return [
                ((model,), rubric_prompt(plan, shown, item.reference, output))
                for model, output in usable.items()
            ]
        calls: list[tuple[tuple[str, ...], str]] = []
        for a, b in combinations([x.model for x in answers], 2):
            if a in usable and b in usable:
                first, second = usable[a] or "", usable[b] or ""
                calls.append(((a, b), pairwise_prompt(plan, shown, item.reference, first, second)))
                calls.append(((b, a), pairwise_prompt(plan, shown, item.reference, second, first)))
        return calls

    def judge(
        self, item: Item, answers: Sequence[Answer], call: CallJudge
    ) -> tuple[Judgement, ...]:
        """Every judgement of one item, in a fixed order (the prompts' order)."""
        return tuple(
            self.read(models, call(self.prompt(text)))
            for models, text in self.prompts(item, answers)
        )

    def read(self, models: tuple[str, ...], outcome: CallOutcome) -> Judgement:
        mode = self.plan.mode
        answer = outcome.answer
        if answer is None:
            return Judgement(
                mode,
                models,
                "error",
                error_code=outcome.error_code,
                latency_ms=outcome.latency_ms,
                attempts=outcome.attempts,
            )
        base = Judgement(
            mode,
            models,
            "unreadable",
            output=answer.text[:MAX_KEPT_OUTPUT],
            latency_ms=answer.latency_ms,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            attempts=outcome.attempts,
            cached=outcome.cached,
        )
        if mode == "rubric":
            rubric = parse_rubric(answer.text, self.plan.criteria)
            if rubric is not None:
                return replace(base, status="ok", output=None, scores=rubric[0], reason=rubric[1])
        else:
            pairwise = parse_pairwise(answer.text)
            if pairwise is not None:
                return replace(
                    base, status="ok", output=None, winner=pairwise[0], reason=pairwise[1]
                )
        return base
