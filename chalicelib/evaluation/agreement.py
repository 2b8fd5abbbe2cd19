"""Agreement between the LLM judge and human reviewers (pure): Cohen's kappa, unweighted and
weighted, and the `human_review` summary the evaluation view, results and report show.

Each human call is paired with the judge's call on the same item and subject: rubric mode
compares the reviewer's 1-5 rating with the judge's score for that answer (the mean of its
criteria, rounded half up, so a one-criterion rubric is compared as is); pairwise mode compares
the reviewer's pick with the judge's two-order verdict (first / second / tie). Calls the judge
did not make, or could not make (unreadable, error), are left out of n."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

Weights = Literal["linear", "quadratic"] | None
RUBRIC_LABELS: tuple[int, ...] = (1, 2, 3, 4, 5)
PAIR_LABELS: tuple[str, ...] = ("first", "second", "tie")


def cohen_kappa(
    first: Sequence[Hashable],
    second: Sequence[Hashable],
    labels: Sequence[Hashable],
    weights: Weights = None,
) -> float | None:
    """Cohen's kappa of two raters over the same cases (as scikit-learn's
    `cohen_kappa_score(first, second, labels=labels, weights=weights)`); None when it is
    undefined (no cases, or chance agreement is already perfect)."""
    if len(first) != len(second):
        raise ValueError("both raters must rate the same cases")
    if not first:
        return None
    position = {label: i for i, label in enumerate(labels)}
    size = len(labels)
    counts = [[0] * size for _ in range(size)]
    for a, b in zip(first, second, strict=True):
        counts[position[a]][position[b]] += 1
    rows = [sum(row) for row in counts]
    columns = [sum(counts[i][j] for i in range(size)) for j in range(size)]
    n = len(first)
    observed = expected = 0.0
    for i in range(size):
        for j in range(size):
            weight = _weight(i, j, weights)
            observed += weight * counts[i][j]
            expected += weight * rows[i] * columns[j] / n
    if expected == 0:
        return None
    return 1 - observed / expected


def _weight(i: int, j: int, weights: Weights) -> float:
    if weights == "linear":
        return abs(i - j)
    if weights == "quadratic":
        return (i - j) ** 2
    return 0.0 if i == j else 1.0


def rubric_label(scores: Mapping[str, int]) -> int:
    """The judge's one 1-5 score for an answer: its criteria's mean, rounded half up."""
    return math.floor(sum(scores.values()) / len(scores) + 0.5)


def judge_labels(items: Iterable[Mapping[str, Any]], mode: str) -> dict[tuple[int, str], Any]:
    """The judge's label per (item, subject) from items.jsonl records (their `judge` lists);
    subject: the model (rubric) or "a|b" (pairwise, the verdict with a as first)."""
    from chalicelib.evaluation.judge import Judgement, pair_verdict

    found: dict[tuple[int, str], Any] = {}
    orders: dict[int, dict[tuple[str, ...], Judgement]] = defaultdict(dict)
    for record in items:
        for raw in record.get("judge") or ():
            judgement = Judgement.from_record(raw)
            if judgement.mode != mode:
                continue
            if mode == "rubric" and judgement.status == "ok" and judgement.scores:
                found[(int(record["index"]), judgement.models[0])] = rubric_label(judgement.scores)
            elif mode == "pairwise":
                orders[int(record["index"])][judgement.models] = judgement
    for index, calls in orders.items():
        for (a, b), shown_first in calls.items():
            shown_second = calls.get((b, a))
            if shown_second is None:
                continue
            verdict = pair_verdict(shown_first, shown_second)
            if verdict in PAIR_LABELS:
                found[(index, f"{a}|{b}")] = verdict  # both orders: whichever pair order is asked
    return found


def human_review_summary(mode: str, reviews: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`human_review`: reviews per reviewer and the judge-human kappa with its n, overall (every
    reviewer's calls pooled) and per reviewer. `reviews` are review records as JSON
    (`reviewer`, `reviewer_name`?, `rating` | `verdict`, `judge`?: the judge's label)."""
    labels: Sequence[Hashable] = RUBRIC_LABELS if mode == "rubric" else PAIR_LABELS
    pairs: dict[str, list[tuple[Hashable, Hashable]]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    for review in reviews:
        reviewer = str(review["reviewer"])
        counts[reviewer] += 1
        if review.get("reviewer_name"):
            names[reviewer] = str(review["reviewer_name"])
        human = review.get("rating") if mode == "rubric" else review.get("verdict")
        machine = review.get("judge")
        if human in labels and machine in labels:
            pairs[reviewer].append((machine, human))
    pooled = [pair for reviewer in sorted(pairs) for pair in pairs[reviewer]]
    summary: dict[str, Any] = {
        "mode": mode,
        "n_reviews": sum(counts.values()),
        "n_reviewers": len(counts),
        **_agreement(pooled, labels, mode),
        "reviewers": [
            {
                "reviewer": reviewer,
                "name": names.get(reviewer),
                "reviews": counts[reviewer],
                **_agreement(pairs.get(reviewer, []), labels, mode),
            }
            for reviewer in sorted(counts)
        ],
    }
    return summary


def _agreement(
    pairs: Sequence[tuple[Hashable, Hashable]], labels: Sequence[Hashable], mode: str
) -> dict[str, Any]:
    """n, the share of exact agreement, kappa (and, on the ordinal 1-5 scale, quadratic kappa)."""
    judge = [a for a, _ in pairs]
    human = [b for _, b in pairs]
    found: dict[str, Any] = {
        "n": len(pairs),
        "agreement": sum(a == b for a, b in pairs) / len(pairs) if pairs else None,
        "kappa": cohen_kappa(judge, human, labels),
    }
    if mode == "rubric":
        found["weighted_kappa"] = cohen_kappa(judge, human, labels, "quadratic")
    return found
