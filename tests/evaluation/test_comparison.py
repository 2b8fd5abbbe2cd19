"""ModelComparison against a direct per-item computation and scipy's binomial test."""

from __future__ import annotations

import json
import random
from itertools import combinations
from typing import Any

import pytest
from scipy.stats import binomtest

from chalicelib.evaluation.metrics import ModelComparison, Outcome

MODELS = ["base", "tuned", "other"]


def random_items(seed: int, n: int) -> list[tuple[str, dict[str, Outcome]]]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        ref = rng.choice(["neg", "neu", "pos"])
        outcomes: dict[str, Outcome] = {}
        for model, skill in zip(MODELS, (0.6, 0.75, 0.5)):
            roll = rng.random()
            if roll < 0.05:
                outcomes[model] = Outcome(None, "error")
            elif roll < 0.12:
                outcomes[model] = Outcome(None, "invalid")
            elif roll < 0.13:
                continue  # no outcome at all: left out like an error
            else:
                pred = ref if rng.random() < skill else rng.choice(["neg", "neu", "pos"])
                outcomes[model] = Outcome(pred, "ok")
        items.append((ref, outcomes))
    return items


def direct(items: list[tuple[str, dict[str, Outcome]]], a: str, b: str) -> dict[str, Any]:
    kept = [
        (ref, o[a], o[b])
        for ref, o in items
        if a in o and b in o and o[a].status != "error" and o[b].status != "error"
    ]

    def right(ref: str, o: Outcome) -> bool:
        return o.status == "ok" and o.prediction == ref

    def answer(o: Outcome) -> str:
        return o.prediction if o.status == "ok" else "<invalid>"  # type: ignore[return-value]

    a_only = sum(right(r, x) and not right(r, y) for r, x, y in kept)
    b_only = sum(right(r, y) and not right(r, x) for r, x, y in kept)
    n = len(kept)
    acc_a = sum(right(r, x) for r, x, _ in kept) / n
    acc_b = sum(right(r, y) for r, _, y in kept) / n
    return {
        "n": n,
        "a_only": a_only,
        "b_only": b_only,
        "difference": acc_a - acc_b,
        "agreement": sum(answer(x) == answer(y) for _, x, y in kept) / n,
    }


@pytest.mark.parametrize("seed", range(10))
def test_pairs_match_direct_computation(seed: int) -> None:
    items = random_items(seed, random.Random(seed).randint(20, 400))
    comparison = ModelComparison(MODELS)
    for ref, outcomes in items:
        comparison.add(ref, outcomes)
    result = comparison.result()
    assert [(r["a"], r["b"]) for r in result] == list(combinations(MODELS, 2))
    for row in result:
        want = direct(items, row["a"], row["b"])
        assert row["n"] == want["n"]
        assert row["discordant"] == {
            "a_only_correct": want["a_only"],
            "b_only_correct": want["b_only"],
        }
        assert row["accuracy_difference"] == pytest.approx(want["difference"], abs=1e-12)
        assert row["agreement_rate"] == pytest.approx(want["agreement"], rel=1e-12)
        discordant = want["a_only"] + want["b_only"]
        expected_p = binomtest(want["a_only"], discordant).pvalue if discordant else 1.0
        assert row["mcnemar_p"] == pytest.approx(expected_p, rel=1e-9)


def test_chunked_comparison_equals_one_pass() -> None:
    items = random_items(99, 500)
    single = ModelComparison(MODELS)
    for ref, outcomes in items:
        single.add(ref, outcomes)
    parts = []
    for lo in range(0, 500, 137):
        part = ModelComparison(MODELS)
        for ref, outcomes in items[lo : lo + 137]:
            part.add(ref, outcomes)
        parts.append(ModelComparison.from_state(json.loads(json.dumps(part.to_state()))))
    random.Random(1).shuffle(parts)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert merged.result() == single.result()


def test_numbers_invalid_agreement_and_empty_pairs() -> None:
    comparison = ModelComparison(["a", "b"])
    comparison.add(
        None, {"a": Outcome(None, "ok", 2.0), "b": Outcome(None, "ok", 2)}, reference_value=2
    )
    comparison.add("x", {"a": Outcome(None, "invalid"), "b": Outcome(None, "invalid")})
    comparison.add("x", {"a": Outcome("x", "ok"), "b": Outcome(None, "error")})
    (row,) = comparison.result()
    assert row["n"] == 2 and row["agreement_rate"] == 1.0
    assert row["accuracy_difference"] == 0.0 and row["mcnemar_p"] == 1.0
    empty = ModelComparison(["a", "b"]).result()[0]
    assert empty["n"] == 0 and empty["accuracy_difference"] is None
    assert empty["agreement_rate"] is None and empty["mcnemar_p"] == 1.0
    with pytest.raises(ValueError):
        ModelComparison(["a", "a"])
    with pytest.raises(ValueError):
        ModelComparison(["a", "b"]).merge(ModelComparison(["b", "a"]))
