"""Mergeable metric accumulators for one model (`ModelMetrics`) and for model pairs
(`ModelComparison`): the METRICS and `comparison` of CONTRACT section 5."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import repeat
from typing import Any, Literal, NamedTuple

from chalicelib.evaluation.stats import (
    ExactSum,
    LatencySketch,
    binomial_greater_p,
    mcnemar_exact_p,
    multinomial,
    percentile,
    stratified_f1_expectation,
)
from chalicelib.evaluation.text_metrics import TextScores

Status = Literal["ok", "invalid", "error"]
INVALID = "<invalid>"
BOOTSTRAP_RESAMPLES = 1000
BASELINE_ALPHA = 0.05  # the one-sided level at which a model "beats" the majority baseline
STATE_VERSION = 1
_PENDING_LIMIT = 4096  # distinct absolute errors buffered before folding into exact sums

Cell = tuple[str, str | None]  # (reference class, predicted class or None when invalid)


def item_key(label: str | None, value: float | None) -> str:
    """The class of an item: its label, else the canonical text of its numeric value."""
    if label is not None:
        return label
    if value is None:
        raise ValueError("an item needs a label or a numeric value")
    v = float(value)
    return str(int(v)) if v.is_integer() else repr(v)


@dataclass(frozen=True)
class Pricing:
    """What a run costs: per-1k-token prices and/or provisioned capacity (units × hours).

    `hours` is how long the run held the capacity; the registry does not know it, so a
    registry `PricingSpec` alone (hours 0) prices tokens only.
    """

    input_per_1k_tokens_usd: float = 0.0
    output_per_1k_tokens_usd: float = 0.0
    model_unit_hour_usd: float = 0.0
    model_units: int = 1
    hours: float = 0.0

    @classmethod
    def coerce(cls, value: Pricing | Mapping[str, Any] | object) -> Pricing:
        """Accept a Pricing, a dict, or an object with these attributes (the registry's spec)."""
        if isinstance(value, Pricing):
            return value
        names = [f.name for f in fields(cls)]
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"unknown pricing fields: {', '.join(map(str, unknown))}")
            return cls(**{k: value[k] for k in names if k in value})
        return cls(**{k: getattr(value, k) for k in names if hasattr(value, k)})

    def token_cost(self, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens / 1000 * self.input_per_1k_tokens_usd
            + output_tokens / 1000 * self.output_per_1k_tokens_usd
        )

    def capacity_cost(self) -> float:
        return self.model_unit_hour_usd * self.model_units * self.hours


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


class _Tally:
    """Exact sufficient statistics of one scope (all items, or one category)."""

    __slots__ = (
        "n_ok",
        "n_invalid",
        "n_error",
        "cells",
        "mae_k",
        "mae_sum",
        "mae_sumsq",
        "abs_errors",
        "latency",
        "input_tokens",
        "output_tokens",
        "text",
    )

    def __init__(self) -> None:
        self.n_ok = 0
        self.n_invalid = 0
        self.n_error = 0
        self.cells: dict[Cell, int] = {}
        self.mae_k = 0
        self.mae_sum = ExactSum()
        self.mae_sumsq = ExactSum()
        self.abs_errors: dict[float, int] = {}  # buffered |reference - prediction| -> count
        self.latency = LatencySketch()
        self.input_tokens = 0
        self.output_tokens = 0
        self.text: TextScores | None = None  # per-item text scores: text deployments only

    def add_text(self, scores: Sequence[float]) -> None:
        if self.text is None:
            self.text = TextScores()
        self.text.add(scores)

    def record(
        self,
        status: str,
        reference: str | None,
        prediction: str | None,
        reference_value: float | None,
        predicted_value: float | None,
        count: int,
    ) -> None:
        if status == "error":
            self.n_error += count
            return
        ref = reference if reference is not None else item_key(None, reference_value)
        pred: str | None
        if status == "ok":
            if prediction is not None:
                pred = prediction
            elif predicted_value is not None:
                pred = item_key(None, predicted_value)
            else:
                raise ValueError("an ok item needs a prediction or a predicted value")
            self.n_ok += count
            if reference_value is not None and predicted_value is not None:
                d = abs(reference_value - predicted_value)
                pending = self.abs_errors
                pending[d] = pending.get(d, 0) + count
                if len(pending) > _PENDING_LIMIT:
                    self.fold()
        elif status == "invalid":
            pred = None
            self.n_invalid += count
        else:
            raise ValueError(f"unknown status {status!r}: expected ok, invalid or error")
        key = (ref, pred)
        cells = self.cells
        cells[key] = cells.get(key, 0) + count

    def add_item(
        self,
        status: str,
        reference: str | None,
        prediction: str | None,
        reference_value: float | None,
        predicted_value: float | None,
        latency_ms: float | None,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        self.record(status, reference, prediction, reference_value, predicted_value, 1)
        if latency_ms is not None:
            self.latency.add(latency_ms)
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def add_batch(
        self,
        statuses: Sequence[str],
        references: Sequence[str | None] | None,
        predictions: Sequence[str | None] | None,
        reference_values: Sequence[float | None] | None,
        predicted_values: Sequence[float | None] | None,
        latencies_ms: Sequence[float | None] | None,
        input_tokens: Sequence[int] | None,
        output_tokens: Sequence[int] | None,
    ) -> None:
        """Count distinct item tuples in C, then record each distinct tuple once."""
        refs = repeat(None) if references is None else references
        preds = repeat(None) if predictions is None else predictions
        if reference_values is None and predicted_values is None:
            for (s, r, p), c in Counter(zip(statuses, refs, preds, strict=False)).items():
                self.record(s, r, p, None, None, c)
        else:
            rvs = repeat(None) if reference_values is None else reference_values
            pvs = repeat(None) if predicted_values is None else predicted_values
            for (s, r, p, a, b), c in Counter(
                zip(statuses, refs, preds, rvs, pvs, strict=False)
            ).items():
                self.record(s, r, p, a, b, c)
        if latencies_ms is not None:
            self.latency.add_many(latencies_ms)
        if input_tokens is not None:
            self.input_tokens += sum(input_tokens)
        if output_tokens is not None:
            self.output_tokens += sum(output_tokens)

    def fold(self) -> None:
        """Move buffered absolute errors into the exact sums."""
        for d, c in self.abs_errors.items():
            self.mae_k += c
            self.mae_sum.add(d, c)
            self.mae_sumsq.add_square(d, c)
        self.abs_errors.clear()

    def merge(self, other: _Tally) -> None:
        self.fold()
        other.fold()
        self.n_ok += other.n_ok
        self.n_invalid += other.n_invalid
        self.n_error += other.n_error
        for key, c in other.cells.items():
            self.cells[key] = self.cells.get(key, 0) + c
        self.mae_k += other.mae_k
        self.mae_sum.merge(other.mae_sum)
        self.mae_sumsq.merge(other.mae_sumsq)
        self.latency.merge(other.latency)
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        if other.text is not None:
            if self.text is None:
                self.text = TextScores()
            self.text.merge(other.text)

    def to_state(self) -> dict[str, Any]:
        self.fold()
        state: dict[str, Any] = {
            "n_ok": self.n_ok,
            "n_invalid": self.n_invalid,
            "n_error": self.n_error,
            "cells": [[r, p, c] for (r, p), c in sorted(self.cells.items(), key=_cell_sort)],
            "mae": {
                "k": self.mae_k,
                "sum": self.mae_sum.to_state(),
                "sumsq": self.mae_sumsq.to_state(),
            },
            "latency": self.latency.to_state(),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.text is not None:
            state["text"] = self.text.to_state()
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> _Tally:
        tally = cls()
        tally.n_ok = int(state["n_ok"])
        tally.n_invalid = int(state["n_invalid"])
        tally.n_error = int(state["n_error"])
        tally.cells = {
            (str(r), None if p is None else str(p)): int(c) for r, p, c in state["cells"]
        }
        tally.mae_k = int(state["mae"]["k"])
        tally.mae_sum = ExactSum.from_state(state["mae"]["sum"])
        tally.mae_sumsq = ExactSum.from_state(state["mae"]["sumsq"])
        tally.latency = LatencySketch.from_state(state["latency"])
        tally.input_tokens = int(state["input_tokens"])
        tally.output_tokens = int(state["output_tokens"])
        if "text" in state:
            tally.text = TextScores.from_state(state["text"])
        return tally

    def result(
        self, pricing: Pricing | None, seed: int, resamples: int, *, capacity: bool
    ) -> dict[str, Any]:
        self.fold()
        n = self.n_ok + self.n_invalid
        out: dict[str, Any] = {
            "n": n,
            "n_ok": self.n_ok,
            "n_invalid": self.n_invalid,
            "n_error": self.n_error,
            "invalid_rate": self.n_invalid / n if n else None,
        }
        out.update(_classification(self.cells, n, seed, resamples))
        out.update(self._mae())
        out.update((self.text or TextScores()).result(seed, resamples))
        out["latency_ms"] = {
            name: self.latency.quantile(q)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        }
        out["usage"] = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        cost = None
        if pricing is not None:
            cost = pricing.token_cost(self.input_tokens, self.output_tokens)
            if capacity:
                cost += pricing.capacity_cost()
        out["cost_usd"] = cost
        return out

    def _mae(self) -> dict[str, float | None]:
        k = self.mae_k
        if k == 0:
            return {"mae": None, "mae_stderr": None}
        total = self.mae_sum.fraction()
        stderr = None
        if k > 1:
            variance = (self.mae_sumsq.fraction() - total * total / k) / (k - 1)
            stderr = math.sqrt(float(variance / k))
        return {"mae": float(total / k), "mae_stderr": stderr}


def _cell_sort(item: tuple[Cell, int]) -> tuple[str, bool, str]:
    (ref, pred), _ = item
    return (ref, pred is None, pred or "")


def _classification(cells: Mapping[Cell, int], n: int, seed: int, resamples: int) -> dict[str, Any]:
    """Accuracy, precision/recall/F1 (macro, weighted, micro, per class) and the confusion
    matrix, with scikit-learn's zero_division=0 conventions."""
    labels = sorted({r for r, _ in cells} | {p for _, p in cells if p is not None})
    index = {label: i for i, label in enumerate(labels)}
    size = len(labels)
    matrix = [[0] * (size + 1) for _ in labels]
    for (r, p), c in cells.items():
        matrix[index[r]][size if p is None else index[p]] += c
    tp = [matrix[i][i] for i in range(size)]
    support = [sum(row) for row in matrix]
    predicted = [sum(row[j] for row in matrix) for j in range(size)]
    per_class: dict[str, dict[str, float | int]] = {}
    for i, label in enumerate(labels):
        per_class[label] = {
            "precision": _ratio(tp[i], predicted[i]),
            "recall": _ratio(tp[i], support[i]),
            "f1": _ratio(2 * tp[i], support[i] + predicted[i]),
            "support": support[i],
        }
    confusion = {"labels": labels, "columns": [*labels, INVALID], "matrix": matrix}
    if n == 0:
        return {
            "accuracy": None,
            "accuracy_stderr": None,
            "precision_macro": None,
            "recall_macro": None,
            "f1_macro": None,
            "f1_macro_ci95": None,
            "f1_weighted": None,
            "f1_micro": None,
            "per_class": per_class,
            "confusion_matrix": confusion,
            "baselines": None,
        }
    correct = sum(tp)
    accuracy = correct / n
    stats = list(per_class.values())
    f1s = [float(s["f1"]) for s in stats]
    return {
        "accuracy": accuracy,
        "accuracy_stderr": math.sqrt(accuracy * (1 - accuracy) / (n - 1)) if n > 1 else None,
        "precision_macro": math.fsum(float(s["precision"]) for s in stats) / size,
        "recall_macro": math.fsum(float(s["recall"]) for s in stats) / size,
        "f1_macro": math.fsum(f1s) / size,
        "f1_macro_ci95": _bootstrap_f1_macro(cells, index, n, seed, resamples),
        "f1_weighted": math.fsum(f * s for f, s in zip(f1s, support, strict=True)) / n,
        "f1_micro": _ratio(2 * correct, n + sum(predicted)),
        "per_class": per_class,
        "confusion_matrix": confusion,
        "baselines": _baselines(labels, support, correct, n),
    }


def _baselines(
    labels: Sequence[str], support: Sequence[int], correct: int, n: int
) -> dict[str, Any] | None:
    """What answering without reading the input scores on these references, and whether the
    model beats always answering the most frequent class (exact one-sided binomial test:
    correct ~ Binomial(n, majority rate) under H0).

    Both baselines only ever answer reference classes, so their macro F1 is over the K classes
    that occur as references (scikit-learn's DummyClassifier scored with f1_score). None with
    fewer than two reference classes: a constant answer is then trivially perfect (free-text
    "match" scoring always is).
    """
    classes = [(label, s) for label, s in zip(labels, support, strict=True) if s]
    if n == 0 or len(classes) < 2:
        return None
    k = len(classes)
    majority, top = max(classes, key=lambda c: c[1])  # ties: the first label, as sklearn
    p_value = binomial_greater_p(correct, n, top / n)
    return {
        "majority": {
            "label": majority,
            "accuracy": top / n,
            "f1_macro": 2 * top / (n + top) / k,
        },
        "stratified": {
            "accuracy": math.fsum((s / n) ** 2 for _, s in classes),
            "f1_macro": math.fsum(stratified_f1_expectation(n, s) for _, s in classes) / k,
        },
        "beats_majority": {
            "p_value": p_value,
            "alpha": BASELINE_ALPHA,
            "better": p_value < BASELINE_ALPHA,
        },
    }


def _bootstrap_f1_macro(
    cells: Mapping[Cell, int], index: Mapping[str, int], n: int, seed: int, resamples: int
) -> list[float]:
    """Percentile bootstrap of macro F1. Drawing n items with replacement is a multinomial
    over the confusion cells, so each resample costs O(cells), not O(n), and the interval
    depends only on the merged counts and the seed."""
    size = len(index)
    ordered = sorted(cells.items(), key=_cell_sort)
    refs = [index[r] for (r, _), _ in ordered]
    preds = [-1 if p is None else index[p] for (_, p), _ in ordered]
    weights = [c for _, c in ordered]
    rng = random.Random(seed)
    values: list[float] = []
    for _ in range(resamples):
        draw = multinomial(rng, n, weights)
        tp = [0] * size
        support = [0] * size
        predicted = [0] * size
        for r, p, x in zip(refs, preds, draw, strict=True):
            if x:
                support[r] += x
                if p >= 0:
                    predicted[p] += x
                    if p == r:
                        tp[r] += x
        f1s = [2 * t / (s + q) for t, s, q in zip(tp, support, predicted, strict=True) if s + q]
        values.append(math.fsum(f1s) / len(f1s))
    values.sort()
    return [percentile(values, 0.025), percentile(values, 0.975)]


class ModelMetrics:
    """The contract's METRICS for one model, accumulated item by item (`add`) or in batches
    (`add_many`, ~3x faster), merged across chunks (`merge`, `to_state`/`from_state`).

    Every state is exact (integer counts, exact sums, histogram buckets) and JSON-serialisable,
    so chunks merged in any order or grouping give the result of one pass, bootstrap interval
    (same seed) and latency percentiles included.

    Decisions the contract leaves open:
    - Labels arrive normalised. An `invalid` item's prediction is ignored; an `error` item only
      counts in `n_error`, latency and usage.
    - `number` deployments may pass `None` labels and only values: the item's class is then the
      canonical text of its value ("3" for 3.0), so accuracy is exact equality of values and the
      confusion matrix is over distinct values (pass binned labels for continuous outputs).
    - Undefined statistics are `None`: every rate when n = 0, `accuracy_stderr` when n <= 1,
      `mae` without valued `ok` items, `mae_stderr` with fewer than two, percentiles without
      latencies, `cost_usd` without pricing.
    - Latency percentiles come from a log-bucketed sketch, within 0.5% relative error of numpy's
      default (linear) percentile; every item with a latency counts, errors included.
    - `f1_macro_ci95`: percentile bootstrap (linear interpolation at 2.5% and 97.5%) of macro
      F1, each resample drawn as a multinomial over confusion cells; a resample's L is the labels
      it contains, as the statistic applied to that resample would have it.
    - `per_category` holds the same metrics for items with a category (items without one are
      only in the totals); its `cost_usd` is the token cost only, capacity hours being the run's.
    - `baselines` come from the scored references alone (the row sums of the confusion counts
      the state already holds), so they merge like everything else: the majority class (ties:
      first in L), stratified random guessing (expected accuracy sum p_c^2, expected macro F1
      computed exactly, not simulated) and the exact binomial test of the model's correct
      count against the majority rate.
    - Text deployments also pass per-item `text_scores`: `exact_match`, `token_f1`, `rouge_l`
      and `chrf` (means over the scored items) with `<name>_ci95`, a percentile bootstrap of
      the items (same seed and resamples as macro F1). The state keeps each metric's distinct
      per-item values with their counts, so the interval survives merging; without text
      scores these keys are None (as `mae` is without numbers) and the state has no "text".
    """

    __slots__ = ("_all", "_categories")

    def __init__(self) -> None:
        self._all = _Tally()
        self._categories: dict[str, _Tally] = {}

    def _category(self, name: str) -> _Tally:
        tally = self._categories.get(name)
        if tally is None:
            tally = self._categories[name] = _Tally()
        return tally

    def add(
        self,
        reference: str | None,
        prediction: str | None,
        status: Status,
        *,
        reference_value: float | None = None,
        predicted_value: float | None = None,
        latency_ms: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        category: str | None = None,
        text_scores: Sequence[float] | None = None,
    ) -> None:
        """Record one item; labels already normalised, `prediction` None when unparseable;
        `text_scores` (a text deployment's `ok` answer) from `text_metrics.text_scores`."""
        item = (status, reference, prediction, reference_value, predicted_value, latency_ms)
        self._all.add_item(*item, input_tokens, output_tokens)
        if text_scores is not None:
            self._all.add_text(text_scores)
        if category is not None:
            scope = self._category(category)
            scope.add_item(*item, input_tokens, output_tokens)
            if text_scores is not None:
                scope.add_text(text_scores)

    def add_many(
        self,
        references: Sequence[str | None] | None,
        predictions: Sequence[str | None] | None,
        statuses: Sequence[Status],
        *,
        reference_values: Sequence[float | None] | None = None,
        predicted_values: Sequence[float | None] | None = None,
        latencies_ms: Sequence[float | None] | None = None,
        input_tokens: Sequence[int] | None = None,
        output_tokens: Sequence[int] | None = None,
        categories: Sequence[str | None] | None = None,
    ) -> None:
        """Record a batch given as parallel columns; the same state as `add` per item."""
        columns = (
            references,
            predictions,
            reference_values,
            predicted_values,
            latencies_ms,
            input_tokens,
            output_tokens,
            categories,
        )
        if any(col is not None and len(col) != len(statuses) for col in columns):
            raise ValueError("add_many columns must have the same length")
        self._all.add_batch(statuses, *columns[:-1])
        if categories is None:
            return
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(categories):
            if name is not None:
                groups.setdefault(name, []).append(i)
        for name, rows in groups.items():
            picked = [None if col is None else [col[i] for i in rows] for col in columns[:-1]]
            self._category(name).add_batch([statuses[i] for i in rows], *picked)  # type: ignore[arg-type]

    def merge(self, other: ModelMetrics) -> ModelMetrics:
        """Add another accumulator's items into this one; returns self."""
        self._all.merge(other._all)
        for name, tally in other._categories.items():
            self._category(name).merge(tally)
        return self

    def to_state(self) -> dict[str, Any]:
        """A canonical JSON-serialisable state (big integers as strings)."""
        return {
            "version": STATE_VERSION,
            "all": self._all.to_state(),
            "categories": {
                name: self._categories[name].to_state() for name in sorted(self._categories)
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ModelMetrics:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported metrics state version {state.get('version')!r}")
        metrics = cls()
        metrics._all = _Tally.from_state(state["all"])
        metrics._categories = {
            str(name): _Tally.from_state(s) for name, s in state["categories"].items()
        }
        return metrics

    def result(
        self,
        pricing: Pricing | Mapping[str, Any] | object | None = None,
        *,
        seed: int = 0,
        resamples: int = BOOTSTRAP_RESAMPLES,
    ) -> dict[str, Any]:
        """The contract's METRICS dict; `per_category` only when some item had a category."""
        price = None if pricing is None else Pricing.coerce(pricing)
        out = self._all.result(price, seed, resamples, capacity=True)
        if self._categories:
            out["per_category"] = {
                name: self._categories[name].result(price, seed, resamples, capacity=False)
                for name in sorted(self._categories)
            }
        return out


class Outcome(NamedTuple):
    """One model's answer to one item, as pair statistics need it."""

    prediction: str | None
    status: Status
    value: float | None = None


class ModelComparison:
    """Paired statistics for every pair of models on the same items: accuracy difference,
    McNemar's exact test on discordant items, agreement. Items where either model of a pair
    errored (or has no outcome) are left out of that pair."""

    __slots__ = ("models", "_pairs")

    def __init__(self, models: Sequence[str]) -> None:
        if len(set(models)) != len(models):
            raise ValueError("models must be distinct")
        self.models = list(models)
        # per pair (i < j, in model order): [n, a_only_correct, b_only_correct, agreements]
        self._pairs = [[0, 0, 0, 0] for _ in range(len(models) * (len(models) - 1) // 2)]

    def add(
        self,
        reference: str | None,
        outcomes: Mapping[str, Outcome],
        *,
        reference_value: float | None = None,
    ) -> None:
        """Record one item. Two invalid answers agree (both unparseable), and are both wrong."""
        ref = item_key(reference, reference_value)
        answers: list[tuple[str | None, bool] | None] = []
        for model in self.models:
            outcome = outcomes.get(model)
            if outcome is None or outcome.status == "error":
                answers.append(None)
            elif outcome.status == "ok":
                key = item_key(outcome.prediction, outcome.value)
                answers.append((key, key == ref))
            elif outcome.status == "invalid":
                answers.append((None, False))
            else:
                raise ValueError(f"unknown status {outcome.status!r}")
        pair = 0
        for i, a in enumerate(answers):
            for b in answers[i + 1 :]:
                if a is not None and b is not None:
                    counts = self._pairs[pair]
                    counts[0] += 1
                    counts[1] += a[1] and not b[1]
                    counts[2] += b[1] and not a[1]
                    counts[3] += a[0] == b[0]
                pair += 1

    def merge(self, other: ModelComparison) -> ModelComparison:
        if other.models != self.models:
            raise ValueError("cannot merge comparisons of different model lists")
        for mine, theirs in zip(self._pairs, other._pairs, strict=True):
            for k, v in enumerate(theirs):
                mine[k] += v
        return self

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "models": self.models, "pairs": self._pairs}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ModelComparison:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported comparison state version {state.get('version')!r}")
        comparison = cls([str(m) for m in state["models"]])
        pairs = [[int(v) for v in counts] for counts in state["pairs"]]
        if len(pairs) != len(comparison._pairs) or any(len(p) != 4 for p in pairs):
            raise ValueError("comparison state does not match its model list")
        comparison._pairs = pairs
        return comparison

    def result(self) -> list[dict[str, Any]]:
        """One entry per pair (a before b in model order); `accuracy_difference` is a − b on
        the pair's shared items."""
        out: list[dict[str, Any]] = []
        pairs = iter(self._pairs)
        for i, a in enumerate(self.models):
            for b in self.models[i + 1 :]:
                n, a_only, b_only, agree = next(pairs)
                out.append(
                    {
                        "a": a,
                        "b": b,
                        "n": n,
                        "accuracy_difference": (a_only - b_only) / n if n else None,
                        "mcnemar_p": mcnemar_exact_p(a_only, b_only),
                        "discordant": {"a_only_correct": a_only, "b_only_correct": b_only},
                        "agreement_rate": agree / n if n else None,
                    }
                )
        return out


__all__ = [
    "BASELINE_ALPHA",
    "BOOTSTRAP_RESAMPLES",
    "INVALID",
    "ModelComparison",
    "ModelMetrics",
    "Outcome",
    "Pricing",
    "Status",
    "item_key",
]
