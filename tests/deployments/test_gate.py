"""The promotion gate on evaluations scored by the real metrics engine (ModelMetrics,
ModelComparison) from constructed predictions: every branch of CONTRACT section 7's rule."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from scipy.stats import binomtest

from chalicelib.config.registry import Deployment
from chalicelib.deployments.gate import GateDecision, promotion_gate
from chalicelib.evaluation.judge import Judgement, JudgePlan
from chalicelib.evaluation.judge_stats import JudgeTotals
from chalicelib.evaluation.metrics import ModelComparison, ModelMetrics, Outcome
from chalicelib.evaluation.results import EvaluationResults, RunMeta, RunStatus

CHAMPION, CANDIDATE = "drug-review-sentiment@1", "drug-review-sentiment@2"
VERSIONS = {CHAMPION: 1, CANDIDATE: 2}


def evaluate(
    references: Sequence[Any],
    answers: Mapping[str, Sequence[Any]],
    *,
    numeric: bool = False,
    status: RunStatus = "succeeded",
) -> EvaluationResults:
    """Score each model's answers (a label, a number, or None for an error) as the runner does."""
    models = list(answers)
    metrics = {m: ModelMetrics() for m in models}
    comparison = ModelComparison(models)
    for i, ref in enumerate(references):
        outcomes = {}
        for m in models:
            answer = answers[m][i]
            state = "error" if answer is None else "ok"
            if numeric:
                metrics[m].add(None, None, state, reference_value=ref, predicted_value=answer)
                outcomes[m] = Outcome(None, state, answer)
            else:
                metrics[m].add(ref, answer, state)
                outcomes[m] = Outcome(answer, state)
        if numeric:
            comparison.add(None, outcomes, reference_value=ref)
        else:
            comparison.add(ref, outcomes)
    meta = RunMeta(
        dataset="inline",
        models=models,
        seed=0,
        limit=None,
        started_at="2026-12-02T00:00:00.000+00:00",
        finished_at="2026-12-02T00:01:00.000+00:00",
        n_items=len(references),
        n_dataset_items=len(references),
        status=status,
        n_items_with_errors=0,
        n_answers_cached=0,
        model_calls=len(references) * len(models),
        concurrency=1,
        duration_seconds=60.0,
    )
    results = {m: metrics[m].result(resamples=300) for m in models}
    return EvaluationResults(results, comparison.result(), [], meta)


def labels(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(["negative", "neutral", "positive"]) for _ in range(n)]


def with_errors(references: Sequence[str], wrong: int, seed: int = 2) -> list[str]:
    """The references with `wrong` of them (chosen at random) answered wrongly."""
    out = list(references)
    for i in random.Random(seed).sample(range(len(out)), wrong):
        out[i] = "negative" if out[i] != "negative" else "positive"
    return out


def gate(evaluation: EvaluationResults | None, output: str = "label", **kw: Any) -> GateDecision:
    kw = {"versions": VERSIONS, "candidate": 2, "champion": 1, **kw}
    return promotion_gate(evaluation, output=output, **kw)  # type: ignore[arg-type]


def test_no_finished_evaluation_is_rejected() -> None:
    decision = gate(None)
    assert not decision.passed and decision.reasons == ["no finished evaluation"]
    assert decision.details() == {
        "passed": False,
        "reasons": ["no finished evaluation"],
        "comparison": None,
    }
    refs = labels(20)
    cancelled = evaluate(refs, {CHAMPION: refs, CANDIDATE: refs}, status="cancelled")
    assert "cancelled" in gate(cancelled).reasons[0]


def test_an_evaluation_without_the_champion_or_the_candidate_is_rejected() -> None:
    refs = labels(50)
    only_candidate = evaluate(refs, {CANDIDATE: refs, "other@7": refs})
    decision = gate(only_candidate, versions={**VERSIONS, "other@7": 7})
    assert not decision.passed
    assert decision.reasons == ["the evaluation did not run the champion (version 1)"]
    only_champion = evaluate(refs, {CHAMPION: refs})
    assert gate(only_champion).reasons == ["the evaluation did not run the candidate (version 2)"]
    # The name ran but the job says it called another version: not the champion either.
    assert not gate(evaluate(refs, {CHAMPION: refs, CANDIDATE: refs}), champion=3).passed
    assert "already the champion" in gate(only_champion, candidate=1).reasons[0]


def test_a_better_or_equal_candidate_passes_in_either_model_order() -> None:
    refs = labels(300)
    champion, candidate = with_errors(refs, 60), with_errors(refs, 30, seed=3)
    for answers in (
        {CHAMPION: champion, CANDIDATE: candidate},
        {CANDIDATE: candidate, CHAMPION: champion},
    ):
        decision = gate(evaluate(refs, answers))
        assert decision.passed, decision.reasons
        comparison = decision.comparison
        assert comparison is not None
        assert comparison["candidate"] == {"model": CANDIDATE, "version": 2}
        assert comparison["metrics"]["accuracy"]["difference"] == pytest.approx(0.1)
        assert comparison["metrics"]["accuracy"]["candidate"] == 270 / 300
        assert comparison["p_values"]["mcnemar"] < 0.05
    assert gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: champion})).passed


def test_a_significantly_worse_candidate_is_rejected_with_the_comparison() -> None:
    refs = labels(400)
    decision = gate(
        evaluate(refs, {CHAMPION: with_errors(refs, 20), CANDIDATE: with_errors(refs, 120)})
    )
    assert not decision.passed
    assert decision.reasons[0].startswith("accuracy fell by")
    assert any("significant" in r for r in decision.reasons)
    comparison = decision.comparison
    assert comparison is not None and comparison["criterion"] == "accuracy"
    assert comparison["metrics"]["accuracy"]["difference"] < -0.2
    assert (
        comparison["metrics"]["f1_macro"]["champion_ci95"][0]
        > comparison["metrics"]["f1_macro"]["candidate"]
    )
    assert comparison["p_values"]["mcnemar"] < 1e-10
    assert comparison["discordant"]["champion_only_correct"] > 90


def test_a_small_drop_passes_when_not_significant_and_within_the_f1_interval() -> None:
    refs = labels(400)
    champion = with_errors(refs, 40)
    candidate = list(champion)
    for i in [i for i, (r, a) in enumerate(zip(refs, champion)) if r == a][:3]:
        candidate[i] = "negative" if refs[i] != "negative" else "positive"
    decision = gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: candidate}))
    assert decision.passed, decision.reasons
    assert "not significant" in decision.reasons[-1]
    assert decision.comparison is not None and decision.comparison["p_values"]["mcnemar"] >= 0.05
    # The same drop within max_drop passes on the first rule.
    allowed = gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: candidate}), max_drop=0.01)
    assert allowed.passed and allowed.reasons[0].startswith("accuracy difference")


def test_an_insignificant_drop_that_loses_a_rare_class_is_rejected_on_macro_f1() -> None:
    refs = ["negative"] * 1000 + ["positive"] * 996 + ["neutral"] * 4
    candidate = [r if r != "neutral" else "negative" for r in refs]
    decision = gate(evaluate(refs, {CHAMPION: refs, CANDIDATE: candidate}))
    assert not decision.passed
    assert decision.comparison is not None
    assert decision.comparison["p_values"]["mcnemar"] >= 0.05  # 4 discordant items: p = 0.125
    assert "macro-F1" in decision.reasons[-1]
    assert not any("is significant" in r for r in decision.reasons)


def test_no_item_answered_by_both_is_rejected() -> None:
    refs = labels(10)
    decision = gate(evaluate(refs, {CHAMPION: refs, CANDIDATE: [None] * 10}))
    assert not decision.passed and decision.reasons == ["no item was answered by both versions"]


def test_an_evaluation_without_the_pair_comparison_is_rejected() -> None:
    refs = labels(10)
    full = evaluate(refs, {CHAMPION: refs, CANDIDATE: refs})
    stripped = EvaluationResults(full.results, [], [], full.meta)
    assert gate(stripped).reasons == ["the evaluation holds no comparison of the two versions"]


def judged(
    evaluation: EvaluationResults, mode: str, verdicts: Sequence[Any], seed: int = 0
) -> EvaluationResults:
    """`evaluation` with a judge section computed by the real JudgeTotals: pairwise `verdicts`
    are (candidate's order-A winner, order-B winner) per item; rubric ones are (candidate
    score, champion score)."""
    plan = JudgePlan(
        deployment=Deployment(
            name="judge",
            provider="bedrock",
            model_id="tunegate.judge-v1:0",
            request_format="converse",
        ),
        mode=mode,  # type: ignore[arg-type]
        kind="text",
        rubric="Rate the answer.",
        criteria=("correctness",),
        custom_rubric=False,
    )
    totals = JudgeTotals([CHAMPION, CANDIDATE])
    for first, second in verdicts:
        if mode == "pairwise":  # champion shown as A first, then candidate as A
            totals.add(
                None,
                [
                    Judgement("pairwise", (CHAMPION, CANDIDATE), "ok", winner=first),
                    Judgement("pairwise", (CANDIDATE, CHAMPION), "ok", winner=second),
                ],
            )
        else:
            totals.add(
                None,
                [
                    Judgement("rubric", (CANDIDATE,), "ok", scores={"correctness": first}),
                    Judgement("rubric", (CHAMPION,), "ok", scores={"correctness": second}),
                ],
            )
    return dataclasses.replace(evaluation, judge=totals.result(plan, seed=seed, resamples=300))


def text_run() -> EvaluationResults:
    refs = labels(40)
    return evaluate(refs, {CHAMPION: refs, CANDIDATE: refs})


def test_text_outputs_without_a_judge_have_no_criterion() -> None:
    decision = gate(text_run(), output="text")
    assert not decision.passed and "without a judge" in decision.reasons[0]


def test_a_text_candidate_the_judge_prefers_passes_on_the_pairwise_criterion() -> None:
    # candidate wins 20 (B then A), champion wins 5, 15 ties (order flips)
    verdicts = [("B", "A")] * 20 + [("A", "B")] * 5 + [("A", "A")] * 15
    decision = gate(judged(text_run(), "pairwise", verdicts), output="text")
    assert decision.passed, decision.reasons
    shown = decision.comparison["metrics"]["judge_pairwise"]  # type: ignore[index]
    assert (shown["candidate_wins"], shown["champion_wins"], shown["ties"]) == (20, 5, 15)
    assert decision.comparison["p_values"]["sign_test"] == pytest.approx(  # type: ignore[index]
        binomtest(20, 25, 0.5).pvalue
    )


def test_a_text_candidate_the_judge_clearly_rejects_is_refused() -> None:
    verdicts = [("A", "B")] * 22 + [("B", "A")] * 4 + [("tie", "tie")] * 14
    decision = gate(judged(text_run(), "pairwise", verdicts), output="text")
    assert not decision.passed
    assert any("significant" in r for r in decision.reasons)
    assert binomtest(4, 26, 0.5).pvalue < 0.05


def test_a_text_candidate_slightly_behind_but_not_significantly_passes() -> None:
    verdicts = [("A", "B")] * 7 + [("B", "A")] * 5 + [("tie", "tie")] * 28
    decision = gate(judged(text_run(), "pairwise", verdicts), output="text")
    assert decision.passed and "not significant" in decision.reasons[-1]


def test_rubric_scores_gate_text_outputs_against_the_champion_interval() -> None:
    rng = random.Random(5)
    champion = [rng.choice([3, 4, 4, 5]) for _ in range(60)]
    same = judged(text_run(), "rubric", [(c, c) for c in champion])
    assert gate(same, output="text").passed
    worse = judged(text_run(), "rubric", [(max(1, c - 2), c) for c in champion])
    decision = gate(worse, output="text")
    assert not decision.passed and "below the champion's 95% interval" in decision.reasons[0]


def numbers(n: int, seed: int = 4) -> list[float]:
    rng = random.Random(seed)
    return [float(rng.randint(1, 10)) for _ in range(n)]


def off_by(references: Sequence[float], errors: Sequence[float]) -> list[float]:
    return [r + e for r, e in zip(references, errors, strict=False)]


def test_number_outputs_are_gated_on_mae() -> None:
    refs = numbers(400)
    champion = off_by(refs, [1.0, 0.0] * 200)  # MAE 0.5, stderr 0.025
    better = off_by(refs, [1.0, 0.0, 0.0, 0.0] * 100)
    decision = gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: better}, numeric=True), "number")
    assert decision.passed, decision.reasons
    assert decision.comparison is not None and decision.comparison["criterion"] == "mae"
    mae = decision.comparison["metrics"]["mae"]
    assert (mae["candidate"], mae["champion"]) == (0.25, 0.5)
    high = mae["champion_ci95"][1]  # no CI for MAE in results: mae + 1.96 stderr
    assert high == pytest.approx(0.5 + 1.959963984540054 * mae_stderr(champion, refs))
    assert mae["champion_ci95_method"].startswith("mae ± 1.96·mae_stderr")

    worse = off_by(refs, [2.0, 1.0] * 200)
    rejected = gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: worse}, numeric=True), "number")
    assert not rejected.passed and rejected.reasons[0].startswith("MAE rose by")
    assert rejected.comparison is not None and rejected.comparison["p_values"]["mae_z_test"] < 1e-6

    slightly = off_by(refs, [1.0, 0.0] * 198 + [1.0, 1.0] * 2)  # MAE 0.505: within the interval
    passed = gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: slightly}, numeric=True), "number")
    assert passed.passed and "not significant" in passed.reasons[-1]


def mae_stderr(predictions: Sequence[float], references: Sequence[float]) -> float:
    errors = [abs(p - r) for p, r in zip(predictions, references, strict=True)]
    mean = sum(errors) / len(errors)
    variance = sum((e - mean) ** 2 for e in errors) / (len(errors) - 1)
    return float((variance / len(errors)) ** 0.5)


def test_a_noisy_number_candidate_above_the_champion_interval_is_rejected() -> None:
    refs = numbers(400)
    champion = off_by(refs, [1.0, 0.0] * 200)  # MAE 0.5, upper bound ~0.549
    noisy = off_by(refs, ([6.0] + [0.0] * 9) * 40)  # MAE 0.6, large stderr: z-test p ~0.28
    decision = gate(evaluate(refs, {CHAMPION: champion, CANDIDATE: noisy}, numeric=True), "number")
    assert not decision.passed
    assert decision.comparison is not None
    assert decision.comparison["p_values"]["mae_z_test"] >= 0.05
    assert "upper bound" in decision.reasons[-1]


def test_number_outputs_without_enough_values_are_rejected() -> None:
    refs = [3.0]
    one = gate(evaluate(refs, {CHAMPION: [3.0], CANDIDATE: [4.0]}, numeric=True), "number")
    assert not one.passed  # one item: no stderr, so neither significance nor interval is known
    assert any("too few items" in r for r in one.reasons)
    none = gate(evaluate(refs, {CHAMPION: [3.0], CANDIDATE: [None]}, numeric=True), "number")
    assert not none.passed


def test_an_mae_interval_in_the_results_is_used_when_present() -> None:
    refs = numbers(400)
    champion = off_by(refs, [1.0, 0.0] * 200)
    noisy = off_by(refs, ([6.0] + [0.0] * 9) * 40)  # rejected on mae ± 1.96·stderr (above)
    run = evaluate(refs, {CHAMPION: champion, CANDIDATE: noisy}, numeric=True)
    run.results[CHAMPION]["mae_ci95"] = [0.4, 0.7]  # e.g. a bootstrap interval, wider
    decision = gate(run, "number")
    assert decision.passed, decision.reasons
    assert decision.comparison is not None
    mae = decision.comparison["metrics"]["mae"]
    assert (mae["champion_ci95"], mae["champion_ci95_method"]) == (
        [0.4, 0.7],
        "the evaluation's mae_ci95",
    )
