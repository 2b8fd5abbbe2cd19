"""Metrics engine vs scikit-learn on 1,000,000 items (5 classes, 3% invalid, values for MAE).

Run: .venv/bin/python bench/bench_metrics.py [--items N]
Both sides get the same Python lists; sklearn's are prepared outside the timer (invalid mapped
to "<invalid>", MAE pairs pre-filtered to ok items), which favours sklearn.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    mean_absolute_error,
    precision_recall_fscore_support,
)

from chalicelib.evaluation.metrics import INVALID, ModelMetrics  # noqa: E402

LABELS = ["negative", "neutral", "positive", "mixed", "off-topic"]
REPEATS = 3


def make_data(n: int, seed: int = 1) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    value = {label: float(i) for i, label in enumerate(LABELS)}
    refs = [rng.choice(LABELS) for _ in range(n)]
    statuses = ["invalid" if rng.random() < 0.03 else "ok" for _ in range(n)]
    preds = [
        None if s == "invalid" else r if rng.random() < 0.72 else rng.choice(LABELS)
        for r, s in zip(refs, statuses, strict=True)
    ]
    return {
        "refs": refs,
        "preds": preds,
        "statuses": statuses,
        "ref_values": [value[r] for r in refs],
        "pred_values": [None if p is None else value[p] for p in preds],
        "latencies": [rng.lognormvariate(5.5, 0.6) for _ in range(n)],
        "input_tokens": [rng.randint(20, 400) for _ in range(n)],
        "output_tokens": [1] * n,
    }


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def feed(data: dict[str, list[Any]]) -> ModelMetrics:
    metrics = ModelMetrics()
    metrics.add_many(
        data["refs"],
        data["preds"],
        data["statuses"],
        reference_values=data["ref_values"],
        predicted_values=data["pred_values"],
        latencies_ms=data["latencies"],
        input_tokens=data["input_tokens"],
        output_tokens=data["output_tokens"],
    )
    return metrics


def feed_one_by_one(data: dict[str, list[Any]]) -> ModelMetrics:
    metrics = ModelMetrics()
    add = metrics.add
    for r, p, s, rv, pv, lat, it, ot in zip(
        data["refs"],
        data["preds"],
        data["statuses"],
        data["ref_values"],
        data["pred_values"],
        data["latencies"],
        data["input_tokens"],
        data["output_tokens"],
        strict=True,
    ):
        add(
            r,
            p,
            s,
            reference_value=rv,
            predicted_value=pv,
            latency_ms=lat,
            input_tokens=it,
            output_tokens=ot,
        )
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    n = parser.parse_args().items
    data = make_data(n)

    # sklearn's inputs, prepared outside the timer
    y_true = data["refs"]
    y_pred = [INVALID if p is None else p for p in data["preds"]]
    ok = [s == "ok" for s in data["statuses"]]
    mae_true = [v for v, k in zip(data["ref_values"], ok, strict=True) if k]
    mae_pred = [v for v, k in zip(data["pred_values"], ok, strict=True) if k]
    labels = sorted(set(y_true) | {p for p in data["preds"] if p is not None})
    kw: dict[str, Any] = {"labels": labels, "zero_division": 0}

    def sklearn_baseline() -> tuple[float, Any, float]:
        return (
            accuracy_score(y_true, y_pred),
            precision_recall_fscore_support(y_true, y_pred, average="macro", **kw),
            mean_absolute_error(mae_true, mae_pred),
        )

    def sklearn_rest() -> dict[str | None, Any]:
        return {
            avg: precision_recall_fscore_support(y_true, y_pred, average=avg, **kw)
            for avg in ("weighted", "micro", None)
        }

    y_true_np, y_pred_np = np.array(y_true), np.array(y_pred)
    mae_true_np, mae_pred_np = np.array(mae_true), np.array(mae_pred)

    def sklearn_numpy() -> Any:
        accuracy_score(y_true_np, y_pred_np)
        precision_recall_fscore_support(y_true_np, y_pred_np, average="macro", **kw)
        return mean_absolute_error(mae_true_np, mae_pred_np)

    t_sk, (acc, macro, mae) = best_of(REPEATS, sklearn_baseline)
    t_sk_rest, rest = best_of(1, sklearn_rest)
    t_sk_np, _ = best_of(REPEATS, sklearn_numpy)
    t_feed, metrics = best_of(REPEATS, lambda: feed(data))
    t_result, result = best_of(REPEATS, lambda: metrics.result(seed=0))
    t_loop, looped = best_of(1, lambda: feed_one_by_one(data))
    t_loop_result, looped_result = best_of(1, lambda: looped.result(seed=0))

    def same(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)

    per_class = rest[None]
    checks = [
        same(result["accuracy"], acc),
        same(result["precision_macro"], macro[0]),
        same(result["recall_macro"], macro[1]),
        same(result["f1_macro"], macro[2]),
        same(result["f1_weighted"], rest["weighted"][2]),
        same(result["f1_micro"], rest["micro"][2]),
        same(result["mae"], mae),
        result == looped_result,
    ]
    for i, label in enumerate(labels):
        got = result["per_class"][label]
        checks += [
            same(got["precision"], per_class[0][i]),
            same(got["recall"], per_class[1][i]),
            same(got["f1"], per_class[2][i]),
            got["support"] == per_class[3][i],
        ]
    equal = all(checks)

    # memory of the accumulator alone (inputs already exist): tracemalloc peak while feeding
    # and computing the result, and the size of its serialised state
    gc.collect()
    tracemalloc.start()
    measured = feed(data)
    measured.result(seed=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    state_bytes = len(json.dumps(measured.to_state()))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ours = t_feed + t_result
    rows = [
        ("sklearn: accuracy_score + prfs(macro) + mean_absolute_error", t_sk, None),
        ("sklearn: same, on prebuilt numpy arrays (conversion not timed)", t_sk_np, None),
        ("sklearn: + prfs weighted, micro, per class (needed to compare)", t_sk + t_sk_rest, None),
        ("ours: add_many (feed 1 batch)", t_feed, None),
        ("ours: result() incl. 1000-resample bootstrap, percentiles", t_result, None),
        ("ours: add_many + result() (every METRICS field)", ours, ours / t_sk),
        (
            "ours: add() per item + result()",
            t_loop + t_loop_result,
            (t_loop + t_loop_result) / t_sk,
        ),
    ]
    print(
        f"items: {n:,}  classes: {len(labels)}  invalid: {result['n_invalid']:,}  "
        f"best of {REPEATS} (sklearn-rest and add() loop: 1 run)"
    )
    print("| what | seconds | ours / sklearn baseline |")
    print("| --- | ---: | ---: |")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.3f} | {'' if ratio is None else f'{ratio:.2f}x'} |")
    print(f"ours / sklearn on numpy arrays: {ours / t_sk_np:.2f}x")
    print(
        f"accumulator tracemalloc peak: {peak / 2**20:.1f} MiB; "
        f"state JSON: {state_bytes / 1024:.1f} KiB; process max RSS (incl. data): {rss_mb:.0f} MiB"
    )
    print(
        f"f1_macro {result['f1_macro']:.6f}  ci95 {result['f1_macro_ci95']}  "
        f"latency p50/p90/p99 {[round(v, 1) for v in result['latency_ms'].values()]}"
    )
    print(f"equal: {'yes' if equal else 'NO'}")
    if not equal:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
