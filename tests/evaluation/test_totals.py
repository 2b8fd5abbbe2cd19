"""Totals and sample selection over synthetic answers: chunks merged (also through JSON states)
equal one pass; samples put errors and disagreements first and stay bounded."""

from __future__ import annotations

import json
import random

import pytest

from chalicelib.evaluation.answers import Answer, ItemResult
from chalicelib.evaluation.datasets import Item
from chalicelib.evaluation.samples import SampleSelector, kind
from chalicelib.evaluation.scoring import Reference
from chalicelib.evaluation.totals import EvaluationTotals

MODELS = ["a", "b"]
LABELS = ["negative", "neutral", "positive"]
VALUES = {"negative": 0.0, "neutral": 1.0, "positive": 2.0}


def answer(model: str, ref: str, roll: float, rng: random.Random) -> Answer:
    reference = Reference(ref, VALUES[ref])
    if roll < 0.05:
        return Answer(model, "error", reference, error_code="throttled", attempts=16)
    if roll < 0.1:
        return Answer(model, "invalid", reference, output="hmm", latency_ms=12.0, attempts=1)
    pred = ref if roll < 0.7 else rng.choice(LABELS)
    return Answer(
        model,
        "ok",
        reference,
        output=f" {pred}",
        prediction=pred,
        key=pred,
        value=VALUES[pred],
        latency_ms=rng.uniform(5, 80),
        input_tokens=rng.randint(10, 90),
        output_tokens=1,
        attempts=rng.choice([1, 1, 2]),
        cached=rng.random() < 0.2,
    )


def results(n: int, seed: int = 7) -> list[ItemResult]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ref = rng.choice(LABELS)
        category = rng.choice([None, "cardio", "derm"])
        item = Item(i, i + 1, f"text {i}", ref, None, category)
        out.append(ItemResult(item, tuple(answer(m, ref, rng.random(), rng) for m in MODELS)))
    return out


def test_chunks_merged_through_json_states_equal_one_pass() -> None:
    items = results(600)
    whole = EvaluationTotals(MODELS, samples=15, seed=3)
    for r in items:
        whole.add(r)
    chunks = [items[i : i + 97] for i in range(0, len(items), 97)]
    random.Random(1).shuffle(chunks)
    merged = EvaluationTotals(MODELS, samples=15, seed=3)
    for chunk in chunks:
        part = EvaluationTotals(MODELS, samples=15, seed=3)
        for r in reversed(chunk):
            part.add(r)
        merged.merge(EvaluationTotals.from_state(json.loads(json.dumps(part.to_state()))))
    assert merged.results(resamples=50) == whole.results(resamples=50)
    assert merged.to_state() == whole.to_state()
    assert merged.n_items == 600
    assert merged.n_items_with_errors == sum(r.has_error for r in items)
    assert merged.model_calls == sum(a.attempts for r in items for a in r.answers)


def test_results_count_what_the_answers_say() -> None:
    items = results(300)
    totals = EvaluationTotals(MODELS)
    for r in items:
        totals.add(r)
    out = totals.results(resamples=20)
    for index, model in enumerate(MODELS):
        answers = [r.answers[index] for r in items]
        scored = [a for a in answers if a.status != "error"]
        correct = sum(a.status == "ok" and a.key == a.reference.key for a in scored)
        metrics = out["results"][model]
        assert metrics["n"] == len(scored)
        assert metrics["n_error"] == len(answers) - len(scored)
        assert metrics["accuracy"] == pytest.approx(correct / len(scored))
        assert set(metrics["per_category"]) == {"cardio", "derm"}
    [pair] = out["comparison"]
    both = [r for r in items if not r.has_error]
    assert pair["n"] == len(both)
    agree = sum(
        (x.key if x.status == "ok" else None) == (y.key if y.status == "ok" else None)
        for x, y in (r.answers for r in both)
    )
    assert pair["agreement_rate"] == pytest.approx(agree / len(both))


def test_samples_put_errors_and_disagreements_first() -> None:
    items = results(400)
    selector = SampleSelector(12, seed=5)
    for r in items:
        selector.offer(r)
    kinds = [kind(r.answers) for r in items]
    first_tier = sum(k in ("error", "disagreement") for k in kinds)
    assert first_tier >= 12  # the synthetic set has plenty
    chosen = selector.samples()
    assert len(chosen) == 12
    assert all(s["kind"] in ("error", "disagreement") for s in chosen)
    assert [s["index"] for s in chosen] == sorted(s["index"] for s in chosen)
    sample = chosen[0]
    source = items[sample["index"]]
    assert sample["input"] == source.item.input
    assert sample["reference"] == source.item.reference
    for a in source.answers:
        shown = sample["outputs"][a.model]
        assert (shown["output"], shown["prediction"], shown["status"]) == (
            a.output,
            a.prediction,
            a.status,
        )


def test_sample_tiers_fill_in_order_when_the_first_runs_short() -> None:
    items = results(600)
    kinds_all = [kind(r.answers) for r in items]
    first = sum(k in ("error", "disagreement") for k in kinds_all)
    wrong = kinds_all.count("incorrect")
    assert wrong > 0
    selector = SampleSelector(first + wrong + 2, seed=0)
    for r in items:
        selector.offer(r)
    kinds = [s["kind"] for s in selector.samples()]
    assert set(kinds[:first]) <= {"error", "disagreement"}
    assert kinds[first:] == ["incorrect"] * wrong + ["correct"] * 2


def test_sample_choice_is_seeded_and_independent_of_order() -> None:
    items = results(300)

    def choose(seed: int, order: list[ItemResult]) -> list[int]:
        selector = SampleSelector(10, seed=seed)
        for r in order:
            selector.offer(r)
        return [s["index"] for s in selector.samples()]

    shuffled = items[:]
    random.Random(2).shuffle(shuffled)
    assert choose(1, items) == choose(1, shuffled)
    assert choose(1, items) != choose(2, items)


def test_zero_samples_keeps_nothing() -> None:
    selector = SampleSelector(0)
    for r in results(10):
        selector.offer(r)
    assert selector.samples() == []


def test_kind_of_a_single_model() -> None:
    ref = Reference("positive", 2.0)
    ok = Answer("a", "ok", ref, prediction="positive", key="positive", value=2.0)
    wrong = Answer("a", "ok", ref, prediction="negative", key="negative", value=0.0)
    invalid = Answer("a", "invalid", ref, output="?")
    assert kind([ok]) == "correct"
    assert kind([wrong]) == "incorrect"
    assert kind([invalid]) == "incorrect"
    assert kind([ok, wrong]) == "disagreement"
    assert kind([ok, Answer("b", "error", ref, error_code="model_timeout")]) == "error"
