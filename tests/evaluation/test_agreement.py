"""Judge-human agreement: Cohen's kappa equals scikit-learn's on random cases (unweighted,
linear, quadratic), and the summary pairs each human call with the judge's call on it."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from sklearn.metrics import cohen_kappa_score

from chalicelib.evaluation.agreement import (
    PAIR_LABELS,
    RUBRIC_LABELS,
    cohen_kappa,
    human_review_summary,
    judge_labels,
    rubric_label,
)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_equals_scikit_learn_on_random_cases(weights: str | None) -> None:
    rng = random.Random(17)
    checked = 0
    for case in range(400):
        labels = RUBRIC_LABELS if case % 2 else PAIR_LABELS
        n = rng.randint(1, 40)
        used = rng.sample(list(labels), rng.randint(1, len(labels)))
        first = [rng.choice(used) for _ in range(n)]
        # correlated second rater: agrees with probability p, else random
        p = rng.random()
        second = [a if rng.random() < p else rng.choice(used) for a in first]
        ours = cohen_kappa(first, second, labels, weights)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cohen_kappa_score(first, second, labels=list(labels), weights=weights)
        if math.isnan(theirs):
            assert ours is None
        else:
            assert ours == pytest.approx(theirs, abs=1e-12)
            checked += 1
    assert checked > 250


def test_kappa_edge_cases() -> None:
    assert cohen_kappa([], [], PAIR_LABELS) is None
    assert cohen_kappa(["tie"] * 3, ["tie"] * 3, PAIR_LABELS) is None  # chance agreement is 1
    assert cohen_kappa(["first", "second"], ["first", "second"], PAIR_LABELS) == 1.0
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 2], RUBRIC_LABELS)


def test_rubric_label_rounds_the_mean_half_up() -> None:
    assert rubric_label({"a": 4}) == 4
    assert rubric_label({"a": 4, "b": 5}) == 5
    assert rubric_label({"a": 2, "b": 3, "c": 3}) == 3
    assert rubric_label({"a": 1, "b": 2}) == 2


def judged(index: int, mode: str, models: list[str], **fields: object) -> dict[str, object]:
    return {"mode": mode, "models": models, "status": "ok", **fields}


def test_judge_labels_and_summary_pairwise() -> None:
    items = [
        {
            "index": 0,
            "model": "a",
            "judge": [
                judged(0, "pairwise", ["a", "b"], winner="A"),
                judged(0, "pairwise", ["b", "a"], winner="B"),
            ],
        },
        {
            "index": 1,
            "model": "a",
            "judge": [
                judged(1, "pairwise", ["a", "b"], winner="A"),
                judged(1, "pairwise", ["b", "a"], winner="A"),  # position flip: tie
            ],
        },
        {
            "index": 2,
            "model": "a",
            "judge": [
                {"mode": "pairwise", "models": ["a", "b"], "status": "unreadable"},
                judged(2, "pairwise", ["b", "a"], winner="A"),
            ],
        },
    ]
    labels = judge_labels(items, "pairwise")
    assert labels[(0, "a|b")] == "first" and labels[(1, "a|b")] == "tie"
    assert (2, "a|b") not in labels
    reviews = [
        {"index": 0, "models": ["a", "b"], "reviewer": "r1", "verdict": "first"},
        {"index": 1, "models": ["a", "b"], "reviewer": "r1", "verdict": "second"},
        {"index": 2, "models": ["a", "b"], "reviewer": "r1", "verdict": "tie"},
        {
            "index": 1,
            "models": ["a", "b"],
            "reviewer": "r2",
            "verdict": "tie",
            "reviewer_name": "Bo",
        },
    ]
    for review in reviews:  # the judge's call, as the API stores it beside each review
        review["judge"] = labels.get((review["index"], "|".join(review["models"])))
    summary = human_review_summary("pairwise", reviews)
    assert summary["n_reviews"] == 4 and summary["n_reviewers"] == 2
    assert summary["n"] == 3  # item 2 has no judge verdict
    judge, human = ["first", "tie", "tie"], ["first", "second", "tie"]
    assert summary["kappa"] == pytest.approx(
        cohen_kappa_score(judge, human, labels=list(PAIR_LABELS))
    )
    first, second = summary["reviewers"]
    assert (first["reviewer"], first["reviews"], first["n"], first["name"]) == ("r1", 3, 2, None)
    assert (second["name"], second["n"], second["agreement"], second["kappa"]) == (
        "Bo",
        1,
        1.0,
        None,
    )
    assert "weighted_kappa" not in summary


def test_summary_rubric_has_a_weighted_kappa() -> None:
    items = [
        {"index": i, "model": "m", "judge": [judged(i, "rubric", ["m"], scores={"c": s, "d": s})]}
        for i, s in enumerate([1, 2, 3, 4, 5])
    ]
    labels = judge_labels(items, "rubric")
    human = [1, 3, 3, 5, 5]
    reviews = [
        {"index": i, "models": ["m"], "reviewer": "r", "rating": h, "judge": labels[(i, "m")]}
        for i, h in enumerate(human)
    ]
    summary = human_review_summary("rubric", reviews)
    judge = [1, 2, 3, 4, 5]
    assert summary["n"] == 5 and summary["agreement"] == pytest.approx(0.6)
    assert summary["kappa"] == pytest.approx(
        cohen_kappa_score(judge, human, labels=[1, 2, 3, 4, 5])
    )
    assert summary["weighted_kappa"] == pytest.approx(
        cohen_kappa_score(judge, human, labels=[1, 2, 3, 4, 5], weights="quadratic")
    )
