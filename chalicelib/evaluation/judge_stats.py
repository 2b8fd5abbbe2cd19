"""The judge's mergeable totals: rubric scores as value counts per model, criterion and category;
pairwise verdicts as counts per pair; unreadable answers, errors, tokens. Chunks judged apart
merge into what one pass counts (the job machinery merges them with the metric states), and
the results give means with bootstrap intervals, win/tie/loss rates with Wilson intervals and
a two-sided sign test."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from chalicelib.evaluation.judge import Judgement, JudgePlan, pair_verdict
from chalicelib.evaluation.metrics import Pricing
from chalicelib.evaluation.stats import mcnemar_exact_p, multinomial, percentile

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
_PAIR_COUNTS = ("first", "second", "tie", "position_flips", "unreadable", "error")
_COUNTERS = ("calls", "ok", "unreadable", "error", "cached", "input_tokens", "output_tokens")
ScoreCounts = dict[str, dict[int, int]]  # criterion -> score -> items


def wilson_interval(successes: int, n: int, z: float = Z95) -> list[float] | None:
    """Wilson score interval of a binomial proportion (scipy's binomtest(...).proportion_ci(
    method="wilson")); None without trials."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact sign test of wins against losses (ties dropped): binomtest(wins,
    wins + losses, 0.5).pvalue, the same sum as McNemar's exact test."""
    return mcnemar_exact_p(wins, losses)


def score_summary(counts: Mapping[int, int], seed: int, resamples: int) -> dict[str, Any]:
    """Mean score with its percentile-bootstrap 95% interval over the items (seeded)."""
    values = sorted(counts)
    weights = [counts[v] for v in values]
    n = sum(weights)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = math.fsum(v * w for v, w in zip(values, weights, strict=True)) / n
    rng = random.Random(seed)
    means = sorted(
        math.fsum(v * w for v, w in zip(values, multinomial(rng, n, weights), strict=True)) / n
        for _ in range(resamples)
    )
    return {"mean": mean, "ci95": [percentile(means, 0.025), percentile(means, 0.975)], "n": n}


def _add(table: ScoreCounts, scores: Mapping[str, int]) -> None:
    for criterion, score in scores.items():
        row = table.setdefault(criterion, {})
        row[score] = row.get(score, 0) + 1


def _merge(mine: ScoreCounts, theirs: ScoreCounts) -> None:
    for criterion, row in theirs.items():
        target = mine.setdefault(criterion, {})
        for score, count in row.items():
            target[score] = target.get(score, 0) + count


def _counts_state(table: ScoreCounts) -> dict[str, list[list[int]]]:
    return {c: [[s, row[s]] for s in sorted(row)] for c, row in sorted(table.items())}


def _counts_from(state: Mapping[str, Any]) -> ScoreCounts:
    return {c: {int(s): int(n) for s, n in rows} for c, rows in state.items()}


def pair_key(first: str, second: str) -> str:
    return f"{first}\n{second}"


class JudgeTotals:
    """What the judge said about a run's items, mergeable across chunks."""

    def __init__(self, models: Sequence[str]) -> None:
        self.models = list(models)
        self.rubric: dict[str, ScoreCounts] = {m: {} for m in self.models}
        self.rubric_categories: dict[str, dict[str, ScoreCounts]] = {m: {} for m in self.models}
        self.pairs: dict[str, dict[str, int]] = {
            pair_key(a, b): dict.fromkeys(_PAIR_COUNTS, 0) for a, b in combinations(self.models, 2)
        }
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.items = 0

    def add(self, category: str | None, judgements: Sequence[Judgement]) -> None:
        """One item's judgements (every call the judge made about it)."""
        if not judgements:
            return
        self.items += 1
        orders: dict[tuple[str, ...], Judgement] = {}
        for j in judgements:
            self.counters["calls"] += 1
            self.counters[j.status] += 1
            self.counters["cached"] += j.cached
            self.counters["input_tokens"] += j.input_tokens
            self.counters["output_tokens"] += j.output_tokens
            if j.mode == "rubric" and j.status == "ok" and j.scores is not None:
                model = j.models[0]
                _add(self.rubric[model], j.scores)
                if category is not None:
                    _add(self.rubric_categories[model].setdefault(category, {}), j.scores)
            elif j.mode == "pairwise":
                orders[j.models] = j
        for a, b in combinations(self.models, 2):
            ab, ba = orders.get((a, b)), orders.get((b, a))
            if ab is None or ba is None:
                continue
            verdict = pair_verdict(ab, ba)
            counts = self.pairs[pair_key(a, b)]
            counts[verdict] += 1
            if verdict == "tie" and ab.winner in ("A", "B") and ab.winner == ba.winner:
                counts["position_flips"] += 1

    def merge(self, other: JudgeTotals) -> JudgeTotals:
        if other.models != self.models:
            raise ValueError("cannot merge judge totals of different model lists")
        for model in self.models:
            _merge(self.rubric[model], other.rubric[model])
            for category, table in other.rubric_categories[model].items():
                _merge(self.rubric_categories[model].setdefault(category, {}), table)
        for key, counts in other.pairs.items():
            for name, value in counts.items():
                self.pairs[key][name] += value
        for name in _COUNTERS:
            self.counters[name] += other.counters[name]
        self.items += other.items
        return self

    def to_state(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "rubric": {m: _counts_state(t) for m, t in self.rubric.items()},
            "rubric_categories": {
                m: {c: _counts_state(t) for c, t in sorted(cats.items())}
                for m, cats in self.rubric_categories.items()
            },
            "pairs": self.pairs,
            "counters": self.counters,
            "items": self.items,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> JudgeTotals:
        totals = cls(state["models"])
        totals.rubric = {m: _counts_from(t) for m, t in state["rubric"].items()}
        totals.rubric_categories = {
            m: {c: _counts_from(t) for c, t in cats.items()}
            for m, cats in state["rubric_categories"].items()
        }
        totals.pairs = {k: {n: int(v) for n, v in c.items()} for k, c in state["pairs"].items()}
        totals.counters = {n: int(state["counters"][n]) for n in _COUNTERS}
        totals.items = int(state["items"])
        return totals

    def result(self, plan: JudgePlan, *, seed: int = 0, resamples: int = 1000) -> dict[str, Any]:
        """results.json's `judge`: the judge and its prompt, then what it found."""
        c = self.counters
        pricing = Pricing.coerce(plan.deployment.pricing)
        out: dict[str, Any] = {
            **plan.to_json(),
            "n_items": self.items,
            "calls": c["calls"],
            "n_ok": c["ok"],
            "n_unreadable": c["unreadable"],
            "n_error": c["error"],
            "n_cached": c["cached"],
            "usage": {"input_tokens": c["input_tokens"], "output_tokens": c["output_tokens"]},
            "cost_usd": round(pricing.token_cost(c["input_tokens"], c["output_tokens"]), 6),
        }
        if plan.mode == "rubric":
            out["rubric_scores"] = {
                model: self._rubric_result(model, plan.criteria, seed, resamples)
                for model in self.models
            }
        else:
            out["pairwise"] = self._pairwise_result()
        return out

    def _rubric_result(
        self, model: str, criteria: Sequence[str], seed: int, resamples: int
    ) -> dict[str, Any]:
        table = self.rubric[model]
        return {
            "criteria": {c: score_summary(table.get(c, {}), seed, resamples) for c in criteria},
            "per_category": {
                category: {c: score_summary(t.get(c, {}), seed, resamples) for c in criteria}
                for category, t in sorted(self.rubric_categories[model].items())
            },
        }

    def _pairwise_result(self) -> dict[str, Any]:
        pairs = []
        matrix: list[list[float | None]] = [[None] * len(self.models) for _ in self.models]
        for (i, a), (j, b) in combinations(enumerate(self.models), 2):
            counts = self.pairs[pair_key(a, b)]
            wins, losses, ties = counts["first"], counts["second"], counts["tie"]
            n = wins + losses + ties
            pair: dict[str, Any] = {
                "a": a,
                "b": b,
                "n": n,
                "wins": wins,
                "ties": ties,
                "losses": losses,
                "position_flips": counts["position_flips"],
                "n_unreadable": counts["unreadable"],
                "n_error": counts["error"],
                "win_rate": wins / n if n else None,
                "win_rate_ci95": wilson_interval(wins, n),
                "tie_rate": ties / n if n else None,
                "tie_rate_ci95": wilson_interval(ties, n),
                "loss_rate": losses / n if n else None,
                "loss_rate_ci95": wilson_interval(losses, n),
                "sign_test_p": sign_test_p(wins, losses),
            }
            pairs.append(pair)
            matrix[i][j] = pair["win_rate"]
            matrix[j][i] = pair["loss_rate"]
        return {"models": self.models, "win_rate_matrix": matrix, "pairs": pairs}
