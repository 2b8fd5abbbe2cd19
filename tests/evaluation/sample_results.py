"""A realistic evaluation run for report tests: synthetic items scored by the real metrics engine
(`ModelMetrics`, `ModelComparison`), returned as `results.json` and `items.jsonl` would hold it."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from typing import Any

from chalicelib.evaluation.metrics import ModelComparison, ModelMetrics, Outcome, Pricing

LABELS = ["negative", "neutral", "positive"]
VALUES = {"negative": 0, "neutral": 1, "positive": 2}
# Markup in data that a broken renderer would execute or fetch (the port is closed).
HOSTILE_INPUT = (
    '<script>window.__pwned = "input"</script>'
    '<img src="http://127.0.0.1:9/pixel.png" onerror="window.__pwned = \'img\'">'
    ' The pills </td></pre> worked & I feel "better".'
)
HOSTILE_OUTPUT = '</pre><script>window.__pwned = "output"</script> positive'
WORDS = ["the", "pills", "helped", "my", "headache", "but", "made", "me", "dizzy", "tired"]


def _profile(model: str, position: int) -> tuple[float, float]:
    """(skill, median latency ms): a tuned model is better and faster in these runs."""
    if "tuned" in model:
        return 0.86, 180.0
    return (0.64, 420.0) if position == 0 else (0.5, 95.0)


def make_run(
    models: Sequence[str] = ("base", "tuned"),
    n_items: int = 240,
    seed: int = 7,
    *,
    numeric: bool = False,
    categories: bool = True,
    n_samples: int = 12,
    hostile: bool = False,
    value_range: int = 10,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(results, items). `numeric`: a `number` deployment scored on values only (no labels),
    references 1..value_range."""
    rng = random.Random(seed)
    metrics = {m: ModelMetrics() for m in models}
    comparison = ModelComparison(list(models))
    chosen = sorted(random.Random(seed + 1).sample(range(n_items), min(n_samples, n_items)))
    hostile_index = chosen[0] if hostile and chosen else -1
    items: list[dict[str, Any]] = []
    kept: dict[int, dict[str, Any]] = {}
    for index in range(n_items):
        category = rng.choice(["short", "long"]) if categories else None
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
        item_input: Any = text if index % 5 else [{"role": "user", "content": text}]
        if index == hostile_index:
            item_input = HOSTILE_INPUT
        if numeric:
            ref_value: float | None = float(rng.randint(1, value_range))
            reference = str(int(ref_value))
        else:
            reference = rng.choices(LABELS, weights=[3, 1, 4])[0]
            ref_value = float(VALUES[reference])
        outputs: dict[str, dict[str, Any]] = {}
        outcomes: dict[str, Outcome] = {}
        for position, model in enumerate(models):
            skill, median = _profile(model, position)
            latency = rng.lognormvariate(math.log(median), 0.45)
            roll = rng.random()
            if index == hostile_index and position == 0:
                roll = 1.0  # the hostile answer is an ok one
            prediction: Any = None
            pred_value: float | None = None
            error_code = None
            if roll < 0.03:
                status, output, error_code = (
                    "error",
                    None,
                    rng.choice(["model_timeout", "throttled"]),
                )
            elif roll < 0.08:
                status, output = "invalid", "I would rather not say."
            else:
                status = "ok"
                if numeric:
                    assert ref_value is not None
                    pred_value = (
                        ref_value if rng.random() < skill else float(rng.randint(1, value_range))
                    )
                    prediction = pred_value
                    output = f"Rating: {pred_value:g}"
                else:
                    prediction = reference if rng.random() < skill else rng.choice(LABELS)
                    pred_value = float(VALUES[prediction])
                    output = f" {prediction.capitalize()}.\n"
                if index == hostile_index and position == 0:
                    output = HOSTILE_OUTPUT
            in_tokens, out_tokens = len(text.split()) + 12, 0 if status == "error" else 3
            metrics[model].add(
                None if numeric else reference,
                None if numeric else prediction,
                status,  # type: ignore[arg-type]
                reference_value=ref_value,
                predicted_value=pred_value,
                latency_ms=latency,
                input_tokens=in_tokens,
                output_tokens=out_tokens,
                category=category,
            )
            outcomes[model] = Outcome(
                None if numeric else prediction,
                status,
                pred_value,  # type: ignore[arg-type]
            )
            record = {
                "index": index,
                "model": model,
                "input": item_input,
                "reference": reference,
                "output": output,
                "prediction": prediction,
                "status": status,
                "error_code": error_code,
                "latency_ms": latency,
                "category": category,
            }
            items.append(record)
            outputs[model] = {k: record[k] for k in ("output", "prediction", "status")}
            outputs[model]["error_code"] = error_code
        comparison.add(None if numeric else reference, outcomes, reference_value=ref_value)
        if index in chosen:
            kept[index] = {
                "index": index,
                "input": item_input,
                "reference": reference,
                "outputs": outputs,
            }
            if category is not None:
                kept[index]["category"] = category

    def flagged(sample: dict[str, Any]) -> bool:
        outs = sample["outputs"].values()
        answers = {
            (o["status"] == "invalid", o["prediction"]) for o in outs if o["status"] != "error"
        }
        return len(answers) > 1 or any(o["status"] == "error" for o in outs)

    samples = sorted(kept.values(), key=lambda s: (not flagged(s), s["index"]))
    pricing = {
        m: Pricing(input_per_1k_tokens_usd=0.0008, output_per_1k_tokens_usd=0.0032)
        for m in models
        if "tuned" in m
    }
    results = {
        "results": {m: metrics[m].result(pricing.get(m), seed=seed, resamples=200) for m in models},
        "comparison": comparison.result(),
        "samples": samples,
        "meta": {
            "dataset": "examples/drugreview/test.jsonl",
            "models": list(models),
            "seed": seed,
            "limit": None,
            "started_at": "2026-03-02T10:15:00+00:00",
            "finished_at": "2026-03-02T10:17:41.250000+00:00",
            "n_items": n_items,
        },
    }
    # as read back from results.json / items.jsonl
    return json.loads(json.dumps(results)), [json.loads(json.dumps(r)) for r in items]
