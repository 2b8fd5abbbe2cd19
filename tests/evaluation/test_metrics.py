"""ModelMetrics against scikit-learn, numpy and statistics on seeded random cases, plus merging."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom, binomtest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_recall_fscore_support,
)

from chalicelib.config.registry import PricingSpec
from chalicelib.evaluation.metrics import INVALID, ModelMetrics, Pricing

Item = dict[str, Any]
SENTINEL = -1  # stands for "<invalid>" when classes are coded numbers
FEW_RESAMPLES = 20  # the CI is checked elsewhere; keep the sklearn sweep fast


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


# ----------------------------------------------------------------------------- random cases


def random_case(seed: int) -> list[Item]:
    """Items of one model. `seed % 8` picks a shape so every edge case appears many times."""
    rng = random.Random(seed)
    kind = seed % 8
    n = {0: 1, 1: 2}.get(kind, rng.randint(3, 300))
    n_classes = 1 if kind == 2 else rng.randint(2, 6)
    classes = [f"c{i}" for i in range(n_classes)]
    numeric = kind == 6
    if numeric:
        values = {c: float(rng.choice([i, i + 0.25, -i * 1.5])) for i, c in enumerate(classes)}
    else:
        values = {c: rng.uniform(-3, 3) for c in classes if rng.random() < 0.8}
    with_values = numeric or rng.random() < 0.7
    p_correct = rng.random()
    p_invalid = rng.choice([0.0, 0.05, 0.3, 0.6])
    p_error = rng.choice([0.0, 0.0, 0.1])
    with_categories = rng.random() < 0.4
    items: list[Item] = []
    for _ in range(n):
        ref = rng.choice(classes)
        roll = rng.random()
        status = "error" if roll < p_error else "invalid" if roll < p_error + p_invalid else "ok"
        pred = None
        if status == "ok":
            pred = ref if rng.random() < p_correct else rng.choice(classes)
        elif status == "invalid" and rng.random() < 0.3:
            pred = rng.choice(classes)  # an invalid item's prediction must be ignored
        items.append(
            {
                "reference": ref,
                "prediction": pred,
                "status": status,
                "reference_value": values.get(ref) if with_values else None,
                "predicted_value": values.get(pred) if with_values and pred else None,
                "latency_ms": rng.lognormvariate(5, 1) if rng.random() < 0.9 else None,
                "input_tokens": rng.randint(0, 500),
                "output_tokens": rng.randint(0, 5),
                "category": rng.choice(["x", "y", None]) if with_categories else None,
            }
        )
    if kind == 3:  # a class that is predicted but never a reference
        items[0].update(prediction="zz-predicted-only", status="ok", predicted_value=None)
    if kind == 4:  # a class that is a reference but never predicted
        items[-1].update(reference="aa-reference-only", status="invalid", reference_value=None)
    if numeric:  # number deployment: only values, no labels
        for item in items:
            if item["status"] == "ok" and item["predicted_value"] is None:
                item["predicted_value"] = values[item["prediction"]]
            item["reference"] = None
            item["prediction"] = None
    return items


def feed(metrics: ModelMetrics, items: list[Item], batch: bool) -> ModelMetrics:
    if not batch:
        for it in items:
            metrics.add(
                it["reference"],
                it["prediction"],
                it["status"],
                reference_value=it["reference_value"],
                predicted_value=it["predicted_value"],
                latency_ms=it["latency_ms"],
                input_tokens=it["input_tokens"],
                output_tokens=it["output_tokens"],
                category=it["category"],
            )
        return metrics
    column = {key: [it[key] for it in items] for key in items[0]} if items else {}
    metrics.add_many(
        column.get("reference", []),
        column.get("prediction", []),
        column.get("status", []),
        reference_values=column.get("reference_value"),
        predicted_values=column.get("predicted_value"),
        latencies_ms=column.get("latency_ms"),
        input_tokens=column.get("input_tokens"),
        output_tokens=column.get("output_tokens"),
        categories=column.get("category"),
    )
    return metrics


# ----------------------------------------------------------------------------- the oracle


def check_against_references(result: dict[str, Any], items: list[Item]) -> None:
    """Every field of `result` against scikit-learn / numpy / statistics on the same items."""
    scored = [it for it in items if it["status"] != "error"]
    numeric = any(it["reference"] is None for it in scored)

    # sklearn refuses float classes, so numbers are coded as integers (by value)
    numbers = {it["reference_value"] for it in scored} | {
        it["predicted_value"] for it in scored if it["status"] == "ok"
    }
    code = {v: i for i, v in enumerate(sorted(numbers - {None}))}

    def true_of(it: Item) -> Any:
        return code[it["reference_value"]] if numeric else it["reference"]

    def pred_of(it: Item) -> Any:
        if it["status"] == "invalid":
            return SENTINEL if numeric else INVALID
        return code[it["predicted_value"]] if numeric else it["prediction"]

    y_true = [true_of(it) for it in scored]
    y_pred = [pred_of(it) for it in scored]
    n = len(scored)
    assert result["n"] == n
    assert result["n_ok"] == sum(it["status"] == "ok" for it in items)
    assert result["n_invalid"] == sum(it["status"] == "invalid" for it in items)
    assert result["n_error"] == sum(it["status"] == "error" for it in items)
    assert result["usage"] == {
        "input_tokens": sum(it["input_tokens"] for it in items),
        "output_tokens": sum(it["output_tokens"] for it in items),
    }
    if n == 0:
        assert result["accuracy"] is None and result["f1_macro"] is None
        assert result["confusion_matrix"] == {"labels": [], "columns": [INVALID], "matrix": []}
        assert result["baselines"] is None
        return
    assert close(result["invalid_rate"], result["n_invalid"] / n)

    labels = result["confusion_matrix"]["labels"]
    as_class = [code[float(x)] for x in labels] if numeric else labels
    invalid = SENTINEL if numeric else INVALID
    assert set(as_class) == set(y_true) | {p for p in y_pred if p != invalid}
    assert len(as_class) == len(labels)
    if not numeric:
        assert labels == sorted(labels)

    assert close(result["accuracy"], accuracy_score(y_true, y_pred))
    correct = [float(t == p) for t, p in zip(y_true, y_pred)]
    if n > 1:
        assert close(result["accuracy_stderr"], statistics.stdev(correct) / math.sqrt(n))
    else:
        assert result["accuracy_stderr"] is None

    kw: dict[str, Any] = {"labels": as_class, "zero_division": 0}
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, **kw)
    for i, label in enumerate(labels):
        got = result["per_class"][label]
        assert close(got["precision"], p[i]) and close(got["recall"], r[i])
        assert close(got["f1"], f[i]) and got["support"] == s[i]
    assert list(result["per_class"]) == labels
    for average in ("macro", "weighted", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, **kw)
        assert close(result[f"f1_{average}"], f), average
        if average == "macro":
            assert close(result["precision_macro"], p) and close(result["recall_macro"], r)

    cm = confusion_matrix(y_true, y_pred, labels=[*as_class, invalid])
    assert result["confusion_matrix"]["matrix"] == cm[:-1].tolist()
    assert not cm[-1].any()  # no reference is ever "<invalid>"
    assert result["confusion_matrix"]["columns"] == [*labels, INVALID]
    check_baselines(result["baselines"], y_true, y_pred)

    valued = [
        it
        for it in scored
        if it["status"] == "ok"
        and it["reference_value"] is not None
        and it["predicted_value"] is not None
    ]
    if valued:
        rv = [it["reference_value"] for it in valued]
        pv = [it["predicted_value"] for it in valued]
        assert close(result["mae"], mean_absolute_error(rv, pv))
        if len(valued) > 1:
            errors = np.abs(np.array(rv) - np.array(pv))
            expected = float(np.std(errors, ddof=1) / math.sqrt(len(errors)))
            assert math.isclose(result["mae_stderr"], expected, rel_tol=1e-9, abs_tol=1e-15)
        else:
            assert result["mae_stderr"] is None
    else:
        assert result["mae"] is None and result["mae_stderr"] is None

    lo, hi = result["f1_macro_ci95"]
    assert 0.0 <= lo <= hi <= 1.0

    latencies = [it["latency_ms"] for it in items if it["latency_ms"] is not None]
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        got = result["latency_ms"][name]
        if latencies:
            exact = float(np.percentile(latencies, q))
            assert abs(got - exact) <= 0.0051 * exact
        else:
            assert got is None


def stratified_f1_by_double_sum(n: int, support: int) -> float:
    """E[F1] of one class under stratified guessing, straight from the definition: TP and FP
    are independent binomials, F1 = 2TP / (support + TP + FP)."""
    p = support / n
    tp, fp = np.arange(support + 1), np.arange(n - support + 1)
    weights = np.outer(binom.pmf(tp, support, p), binom.pmf(fp, n - support, p))
    return float((weights * 2 * tp[:, None] / (support + tp[:, None] + fp[None, :])).sum())


def check_baselines(baselines: dict[str, Any] | None, y_true: list[Any], y_pred: list[Any]) -> None:
    """Majority and stratified baselines against DummyClassifier, the binomial test against
    scipy."""
    n = len(y_true)
    if len(set(y_true)) < 2:
        assert baselines is None
        return
    assert baselines is not None
    x = np.zeros((n, 1))
    majority = DummyClassifier(strategy="most_frequent").fit(x, y_true)
    constant = majority.predict(x).tolist()
    counts = {c: y_true.count(c) for c in set(y_true)}
    assert counts[constant[0]] == max(counts.values())
    got = baselines["majority"]
    assert close(got["accuracy"], accuracy_score(y_true, constant))
    assert close(got["f1_macro"], f1_score(y_true, constant, average="macro", zero_division=0))
    stratified = DummyClassifier(strategy="stratified").fit(x, y_true)
    priors = stratified.class_prior_
    assert close(baselines["stratified"]["accuracy"], float(np.sum(priors**2)))
    expected_f1 = np.mean([stratified_f1_by_double_sum(n, counts[c]) for c in stratified.classes_])
    assert math.isclose(baselines["stratified"]["f1_macro"], expected_f1, rel_tol=1e-9)
    correct = sum(t == p for t, p in zip(y_true, y_pred))
    want = binomtest(correct, n, max(counts.values()) / n, alternative="greater").pvalue
    beats = baselines["beats_majority"]
    assert math.isclose(beats["p_value"], want, rel_tol=1e-9, abs_tol=1e-15)
    assert beats["alpha"] == 0.05 and beats["better"] == (want < 0.05)


@pytest.mark.parametrize("seed", range(240))
def test_every_metric_matches_sklearn_on_random_cases(seed: int) -> None:
    items = random_case(seed)
    result = feed(ModelMetrics(), items, batch=seed % 3 == 0).result(resamples=FEW_RESAMPLES)
    check_against_references(result, items)
    categories = sorted({it["category"] for it in items} - {None})
    if not categories:
        assert "per_category" not in result
        return
    assert sorted(result["per_category"]) == categories
    for name in categories:
        part = result["per_category"][name]
        assert "per_category" not in part
        check_against_references(part, [it for it in items if it["category"] == name])


def test_random_cases_cover_the_edge_cases() -> None:
    """The sweep above really contains the shapes the contract names."""
    seen: dict[str, int] = dict.fromkeys(
        ["n1", "n2", "single", "pred_only", "ref_only", "invalid", "numeric", "error"], 0
    )
    for seed in range(240):
        items = random_case(seed)
        scored = [it for it in items if it["status"] != "error"]
        refs = {it["reference"] for it in scored}
        preds = {it["prediction"] for it in scored if it["status"] == "ok"}
        seen["n1"] += len(items) == 1
        seen["n2"] += len(items) == 2
        seen["single"] += len(refs | preds) == 1 and len(scored) > 5
        seen["pred_only"] += bool(preds - refs)
        seen["ref_only"] += bool(refs - preds - {None})
        seen["invalid"] += any(it["status"] == "invalid" for it in items)
        seen["numeric"] += None in refs
        seen["error"] += any(it["status"] == "error" for it in items)
    assert min(seen.values()) >= 10, seen


# ----------------------------------------------------------------------------- explicit shapes


def one(
    refs: list[str], preds: list[str | None], statuses: list[str] | None = None
) -> dict[str, Any]:
    statuses = statuses or ["ok" if p is not None else "invalid" for p in preds]
    metrics = ModelMetrics()
    metrics.add_many(refs, preds, statuses)  # type: ignore[arg-type]
    return metrics.result()


def test_tiny_and_degenerate_sets() -> None:
    single = one(["a"], ["a"])
    assert single["accuracy"] == 1.0 and single["accuracy_stderr"] is None
    assert single["f1_macro_ci95"] == [1.0, 1.0]
    two = one(["a", "b"], ["a", "a"])
    assert two["accuracy"] == 0.5 and close(two["accuracy_stderr"], 0.5)
    all_invalid = one(["a", "b"], [None, None])
    assert all_invalid["accuracy"] == 0.0 and all_invalid["f1_macro"] == 0.0
    assert all_invalid["invalid_rate"] == 1.0
    assert all_invalid["confusion_matrix"] == {
        "labels": ["a", "b"],
        "columns": ["a", "b", INVALID],
        "matrix": [[0, 0, 1], [0, 0, 1]],
    }
    errors_only = one(["a"], [None], ["error"])
    assert errors_only["n"] == 0 and errors_only["n_error"] == 1
    assert errors_only["accuracy"] is None and errors_only["invalid_rate"] is None
    empty = ModelMetrics().result()
    assert empty["n"] == 0 and empty["latency_ms"] == {"p50": None, "p90": None, "p99": None}
    assert empty["cost_usd"] is None and empty["mae"] is None


def test_baselines_of_the_readme_showcase_split() -> None:
    """98 references, 64 `positive`: a model right 64 times is exactly the majority rate and
    not better; right 75 times it is (exact binomial test, as scipy computes it)."""
    refs = ["negative"] * 25 + ["neutral"] * 9 + ["positive"] * 64
    for correct, better in ((64, False), (75, True)):
        wrong = 98 - correct  # the first `wrong` answers miss, the rest are right
        preds = ["neutral" if ref != "neutral" else "positive" for ref in refs[:wrong]]
        result = one(refs, preds + refs[wrong:])
        assert result["accuracy"] == pytest.approx(correct / 98)
        baselines = result["baselines"]
        assert baselines["majority"]["label"] == "positive"
        assert baselines["majority"]["accuracy"] == pytest.approx(64 / 98)
        want = binomtest(correct, 98, 64 / 98, alternative="greater").pvalue
        assert baselines["beats_majority"]["p_value"] == pytest.approx(want, rel=1e-9)
        assert baselines["beats_majority"]["better"] is better


def test_stratified_macro_f1_is_the_exact_expectation_over_every_guess() -> None:
    """Every possible vector of stratified guesses, weighted by its probability and scored by
    scikit-learn: the expectation the metrics report, to rounding."""
    for refs in (["a", "a", "b"], ["a", "b", "b", "c", "c"], ["x", "y", "y", "y", "y"]):
        labels = sorted(set(refs))
        prior = {c: refs.count(c) / len(refs) for c in labels}
        expected = 0.0
        for guess in itertools.product(labels, repeat=len(refs)):
            weight = math.prod(prior[g] for g in guess)
            expected += weight * f1_score(refs, list(guess), average="macro", zero_division=0)
        got = one(refs, refs)["baselines"]["stratified"]["f1_macro"]
        assert math.isclose(got, expected, rel_tol=1e-12)


def test_stratified_baseline_matches_a_simulated_dummy_classifier() -> None:
    """DummyClassifier("stratified") guessing 4000 times over: its mean accuracy and macro F1
    land within four standard errors of the analytic values."""
    rng = random.Random(5)
    refs = np.array([rng.choice(["neg"] * 3 + ["neu"] + ["pos"] * 6) for _ in range(60)])
    reps = 4000
    dummy = DummyClassifier(strategy="stratified", random_state=11)
    dummy.fit(np.zeros((len(refs), 1)), refs)
    guesses = dummy.predict(np.zeros((reps * len(refs), 1))).reshape(reps, len(refs))
    accuracies = (guesses == refs).mean(axis=1)
    f1 = np.zeros(reps)
    for c in dummy.classes_:
        tp = ((guesses == c) & (refs == c)).sum(axis=1)
        f1 += 2 * tp / ((refs == c).sum() + (guesses == c).sum(axis=1))
    f1 /= len(dummy.classes_)
    stratified = one(refs.tolist(), refs.tolist())["baselines"]["stratified"]
    for simulated, exact in ((accuracies, "accuracy"), (f1, "f1_macro")):
        stderr = simulated.std(ddof=1) / math.sqrt(reps)
        assert abs(simulated.mean() - stratified[exact]) < 4 * stderr, exact


def test_no_baselines_when_one_class_is_all_the_references() -> None:
    """Free-text scoring has the single reference class "match": a constant answer would be
    perfect, so there is nothing to beat."""
    assert one(["match"] * 5, ["match", "mismatch", "match", None, "match"])["baselines"] is None
    assert one(["a", "b"], [None, None])["baselines"]["beats_majority"]["p_value"] == 1.0


def test_number_deployment_uses_values_for_classes_and_mae() -> None:
    metrics = ModelMetrics()
    metrics.add(None, None, "ok", reference_value=3, predicted_value=3.0)
    metrics.add(None, None, "ok", reference_value=2.5, predicted_value=4)
    metrics.add(None, None, "invalid", reference_value=1)
    result = metrics.result()
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["confusion_matrix"]["labels"] == ["1", "2.5", "3", "4"]
    assert result["mae"] == pytest.approx(0.75)
    assert result["mae_stderr"] == pytest.approx(statistics.stdev([0, 1.5]) / math.sqrt(2))


def test_invalid_items_ignore_any_prediction_and_bad_input_is_refused() -> None:
    with_pred = one(["a", "b"], ["a", "b"], ["ok", "invalid"])
    without = one(["a", "b"], ["a", None], ["ok", "invalid"])
    assert with_pred == without
    metrics = ModelMetrics()
    with pytest.raises(ValueError, match="unknown status"):
        metrics.add("a", "a", "maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prediction"):
        metrics.add("a", None, "ok")
    with pytest.raises(ValueError, match="label or a numeric value"):
        metrics.add(None, "a", "ok")
    with pytest.raises(ValueError, match="same length"):
        metrics.add_many(["a"], ["a", "b"], ["ok"])
    with pytest.raises(ValueError, match="latency"):
        metrics.add("a", "a", "ok", latency_ms=-1.0)
    with pytest.raises(ValueError, match="version"):
        ModelMetrics.from_state({"version": 99})


# ----------------------------------------------------------------------------- merging


def merge_in_random_tree(rng: random.Random, parts: list[ModelMetrics]) -> ModelMetrics:
    parts = parts[:]
    while len(parts) > 1:
        i, j = rng.sample(range(len(parts)), 2)
        merged = parts[i].merge(parts[j])
        parts = [p for k, p in enumerate(parts) if k not in (i, j)] + [merged]
    return parts[0]


@pytest.mark.parametrize("seed", range(40))
def test_chunks_merged_in_any_order_equal_one_pass(seed: int) -> None:
    rng = random.Random(1000 + seed)
    items = random_case(seed) + random_case(seed + 8)  # mixed shapes in one job
    if seed % 8 == 6:
        items = random_case(seed)
    single = feed(ModelMetrics(), items, batch=False)
    cuts = sorted(rng.sample(range(len(items) + 1), min(len(items) + 1, rng.randint(1, 8))))
    bounds = [0, *cuts, len(items)]
    chunks: list[ModelMetrics] = []
    for lo, hi in zip(bounds, bounds[1:]):
        part = feed(ModelMetrics(), items[lo:hi], batch=rng.random() < 0.5)
        state = json.loads(json.dumps(part.to_state()))
        chunks.append(ModelMetrics.from_state(state))
    merged = merge_in_random_tree(rng, chunks)
    pricing = {"input_per_1k_tokens_usd": 0.01, "model_unit_hour_usd": 20.0, "hours": 0.5}
    assert merged.result(pricing, seed=seed) == single.result(pricing, seed=seed)
    assert merged.to_state() == single.to_state()


def test_mae_is_exact_whatever_the_grouping() -> None:
    """Float sums depend on order; the exact sums do not (values chosen to expose rounding)."""
    rng = random.Random(7)
    values = [rng.choice([1e16, 1.0, -1e16, 0.1, 3e-300]) for _ in range(2000)]
    items = [("a", "a", "ok", v, 0.0) for v in values]
    forward, backward = ModelMetrics(), ModelMetrics()
    for ref, pred, status, rv, pv in items:
        forward.add(ref, pred, status, reference_value=rv, predicted_value=pv)  # type: ignore[arg-type]
    for ref, pred, status, rv, pv in reversed(items):
        backward.add(ref, pred, status, reference_value=rv, predicted_value=pv)  # type: ignore[arg-type]
    from fractions import Fraction

    exact = sum((Fraction(abs(v)) for v in values), Fraction(0)) / len(values)
    assert forward.result()["mae"] == backward.result()["mae"] == float(exact)


def test_state_stays_small_with_many_distinct_values() -> None:
    metrics = ModelMetrics()
    rng = random.Random(3)
    n = 20_000
    metrics.add_many(
        ["a"] * n,
        ["a"] * n,
        ["ok"] * n,
        reference_values=[rng.random() for _ in range(n)],
        predicted_values=[rng.random() for _ in range(n)],
        latencies_ms=[rng.uniform(1, 60_000) for _ in range(n)],
    )
    assert len(json.dumps(metrics.to_state())) < 40_000


# ----------------------------------------------------------------------------- bootstrap


def typical_items(seed: int, n: int) -> tuple[list[str], list[str | None]]:
    rng = random.Random(seed)
    refs = [rng.choice(["neg", "neu", "pos"]) for _ in range(n)]
    preds: list[str | None] = []
    for r in refs:
        roll = rng.random()
        preds.append(
            None if roll < 0.05 else r if roll < 0.8 else rng.choice(["neg", "neu", "pos"])
        )
    return refs, preds


def test_bootstrap_ci_brackets_estimate_and_is_seeded() -> None:
    for seed in range(10):
        refs, preds = typical_items(seed, 300)
        metrics = ModelMetrics()
        metrics.add_many(refs, preds, ["ok" if p else "invalid" for p in preds])
        result = metrics.result(seed=seed)
        lo, hi = result["f1_macro_ci95"]
        assert lo < result["f1_macro"] < hi
        assert metrics.result(seed=seed)["f1_macro_ci95"] == [lo, hi]
        assert metrics.result(seed=seed + 1)["f1_macro_ci95"] != [lo, hi]


def test_bootstrap_over_cells_matches_a_naive_item_bootstrap() -> None:
    """The multinomial shortcut has the distribution of resampling items (different draws)."""
    refs, preds = typical_items(42, 1000)
    metrics = ModelMetrics()
    metrics.add_many(refs, preds, ["ok" if p else "invalid" for p in preds])
    lo, hi = metrics.result(seed=5)["f1_macro_ci95"]
    rng = np.random.default_rng(5)
    y_true = np.array(refs)
    y_pred = np.array([p or INVALID for p in preds])
    scores = []
    for _ in range(1000):
        pick = rng.integers(0, len(refs), len(refs))
        t, p = y_true[pick], y_pred[pick]
        labels = sorted(set(t) | (set(p) - {INVALID}))
        scores.append(f1_score(t, p, labels=labels, average="macro", zero_division=0))
    naive_lo, naive_hi = np.percentile(scores, [2.5, 97.5])
    assert abs(lo - naive_lo) < 0.012 and abs(hi - naive_hi) < 0.012


# ----------------------------------------------------------------------------- cost


class _SpecLike:
    input_per_1k_tokens_usd = 0.5
    output_per_1k_tokens_usd = 2.0


def test_cost_from_tokens_and_capacity() -> None:
    metrics = ModelMetrics()
    metrics.add("a", "a", "ok", input_tokens=1500, output_tokens=500, category="x")
    metrics.add("a", None, "error", input_tokens=500, output_tokens=0)
    tokens = 2000 / 1000 * 0.5 + 500 / 1000 * 2.0
    assert metrics.result(_SpecLike())["cost_usd"] == pytest.approx(tokens)
    spec = PricingSpec(model_unit_hour_usd=30.0, model_units=2)
    assert metrics.result(spec)["cost_usd"] == pytest.approx(0.0)  # no hours: capacity unknown
    pricing = {"input_per_1k_tokens_usd": 0.5, "output_per_1k_tokens_usd": 2.0}
    full = metrics.result({**pricing, "model_unit_hour_usd": 30.0, "model_units": 2, "hours": 0.25})
    assert full["cost_usd"] == pytest.approx(tokens + 15.0)
    assert full["per_category"]["x"]["cost_usd"] == pytest.approx(1500 / 1000 * 0.5 + 0.5 * 2.0)
    assert metrics.result(Pricing(hours=1.0, model_unit_hour_usd=1.0))["cost_usd"] == 1.0
    with pytest.raises(ValueError, match="unknown pricing"):
        metrics.result({"per_token": 1.0})
