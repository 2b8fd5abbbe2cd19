"""The judge's pieces without a network: strict answer parsing, the pairwise verdict from two
orders, mergeable totals, and the statistics against scipy."""

from __future__ import annotations

import json
import random

import pytest
from scipy.stats import binomtest

from chalicelib.config.registry import Deployment
from chalicelib.evaluation.judge import (
    DEFAULT_CRITERIA,
    PROMPT_VERSIONS,
    Judgement,
    JudgeSpec,
    pair_verdict,
    parse_pairwise,
    parse_rubric,
    plan_judge,
    rubric_prompt,
)
from chalicelib.evaluation.judge_stats import JudgeTotals, sign_test_p, wilson_interval
from emulator.judge_model import judge_answer

TEXT = Deployment.model_validate(
    {
        "name": "t",
        "provider": "bedrock",
        "model_id": "tunegate.judge-v1:0",
        "request_format": "converse",
        "output": {"type": "text"},
    }
)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '```json\n{"scores": {"correctness": 4}, "reason": "ok"}\n```',
        '{"scores": {"correctness": 6}, "reason": "ok"}',
        '{"scores": {"correctness": 4.0}, "reason": "ok"}',
        '{"scores": {"correctness": true}, "reason": "ok"}',
        '{"scores": {"correctness": 4}, "reason": ""}',
        '{"scores": {"correctness": 4, "style": 3}, "reason": "ok"}',
        '{"scores": {"correctness": 4}, "reason": "ok", "extra": 1}',
        '[{"scores": {"correctness": 4}, "reason": "ok"}]',
        'The score is {"scores": {"correctness": 4}, "reason": "ok"}',
    ],
)
def test_a_rubric_answer_off_the_shape_is_unreadable(text: str) -> None:
    assert parse_rubric(text, ["correctness"]) is None


def test_a_rubric_answer_in_the_shape_is_read() -> None:
    answer = ' {"scores": {"correctness": 4, "clarity": 2}, "reason": " close "}\n'
    assert parse_rubric(answer, ["correctness", "clarity"]) == (
        {"correctness": 4, "clarity": 2},
        "close",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"winner": "A", "reason": "r"}', ("A", "r")),
        ('{"winner": "tie", "reason": "r"}', ("tie", "r")),
        ('{"winner": "a", "reason": "r"}', None),
        ('{"winner": "A"}', None),
        ("A", None),
    ],
)
def test_pairwise_answers_are_read_strictly(text: str, expected: object) -> None:
    assert parse_pairwise(text) == expected


def _pw(models: tuple[str, str], winner: str | None, status: str = "ok") -> Judgement:
    return Judgement("pairwise", models, status, winner=winner, reason="r")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "verdict"),
    [
        ("A", "B", "first"),  # x shown first wins, then x shown second wins
        ("B", "A", "second"),
        ("A", "A", "tie"),  # the first position wins both times: order-dependent
        ("B", "B", "tie"),
        ("tie", "A", "tie"),
        ("tie", "tie", "tie"),
    ],
)
def test_a_verdict_that_flips_with_the_order_is_a_tie(
    first: str, second: str, verdict: str
) -> None:
    assert pair_verdict(_pw(("x", "y"), first), _pw(("y", "x"), second)) == verdict


def test_an_unreadable_order_leaves_the_pair_undecided() -> None:
    assert pair_verdict(_pw(("x", "y"), None, "unreadable"), _pw(("y", "x"), "A")) == "unreadable"


def test_wilson_and_the_sign_test_equal_scipy_on_random_cases() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 400)
        k = rng.randint(0, n)
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx([ci.low, ci.high], abs=1e-12)
        wins = rng.randint(0, 300)
        losses = rng.randint(0, 300)
        if wins + losses:
            expected = binomtest(wins, wins + losses, 0.5).pvalue
            assert sign_test_p(wins, losses) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert wilson_interval(0, 0) is None


def _rubric(model: str, score: int, status: str = "ok") -> Judgement:
    scores = {"correctness": score} if status == "ok" else None
    return Judgement("rubric", (model,), status, scores=scores, reason="r", input_tokens=10)  # type: ignore[arg-type]


def test_judge_totals_merge_to_what_one_pass_counts() -> None:
    rng = random.Random(3)
    items = []
    for i in range(60):
        verdicts = [
            _pw(("a", "b"), rng.choice(["A", "B", "tie"])),
            _pw(("b", "a"), rng.choice(["A", "B", "tie"])),
            _rubric("a", rng.randint(1, 5)),
            _rubric("b", rng.randint(1, 5), rng.choice(["ok", "unreadable"])),
        ]
        items.append((rng.choice(["x", "y", None]), verdicts))
    whole = JudgeTotals(["a", "b"])
    for category, verdicts in items:
        whole.add(category, verdicts)
    parts = [JudgeTotals(["a", "b"]) for _ in range(3)]
    for i, (category, verdicts) in enumerate(items):
        parts[i % 3].add(category, verdicts)
    merged = JudgeTotals.from_state(json.loads(json.dumps(parts[0].to_state())))
    merged.merge(parts[1]).merge(parts[2])
    assert merged.to_state() == whole.to_state()
    pair = whole.pairs["a\nb"]
    assert pair["first"] + pair["second"] + pair["tie"] == 60
    assert whole.counters["unreadable"] + whole.counters["ok"] == whole.counters["calls"] == 240


def test_the_rubric_mean_has_a_bootstrap_interval_per_criterion_and_category() -> None:
    plan = plan_judge(JudgeSpec(model="t", mode="rubric"), TEXT, [TEXT])
    totals = JudgeTotals(["a"])
    scores = [1, 2, 3, 4, 5, 5, 4, 4]
    for i, s in enumerate(scores):
        totals.add("even" if i % 2 == 0 else "odd", [_rubric("a", s)])
    criteria = ("correctness",)
    plan = plan_judge(JudgeSpec(model="t", mode="rubric", criteria=list(criteria)), TEXT, [TEXT])
    result = totals.result(plan, seed=1, resamples=500)
    summary = result["rubric_scores"]["a"]["criteria"]["correctness"]
    assert summary["mean"] == pytest.approx(sum(scores) / len(scores))
    assert summary["n"] == len(scores)
    low, high = summary["ci95"]
    assert 1 <= low <= summary["mean"] <= high <= 5
    assert result["rubric_scores"]["a"]["per_category"]["even"]["correctness"]["n"] == 4
    assert result["prompt_version"] == PROMPT_VERSIONS["rubric"] == "rubric-v1"
    assert result["usage"]["input_tokens"] == 80


def test_the_default_rubric_depends_on_the_task_kind() -> None:
    label = TEXT.model_copy(
        update={"output": TEXT.output.model_copy(update={"type": "label", "labels": ["x"]})}
    )
    assert (
        plan_judge(JudgeSpec(model="t", mode="rubric"), TEXT, [TEXT]).criteria
        == (DEFAULT_CRITERIA["text"])
    )
    labels_plan = plan_judge(JudgeSpec(model="t", mode="rubric"), TEXT, [label])
    assert labels_plan.kind == "labels"
    assert labels_plan.criteria == DEFAULT_CRITERIA["labels"]


def test_the_local_judge_answers_its_own_prompt_in_the_strict_shape() -> None:
    plan = plan_judge(JudgeSpec(model="t", mode="rubric"), TEXT, [TEXT])
    good = rubric_prompt(plan, "why?", "the pills helped my pain a lot", "the pills helped my pain")
    bad = rubric_prompt(plan, "why?", "the pills helped my pain a lot", "weather is nice")
    good_scores = parse_rubric(judge_answer(good), plan.criteria)
    bad_scores = parse_rubric(judge_answer(bad), plan.criteria)
    assert good_scores is not None and bad_scores is not None
    assert good_scores[0]["correctness"] > bad_scores[0]["correctness"]
    assert parse_rubric(judge_answer("hello"), plan.criteria) is None
