"""The runner against the local stack: real boto3 calls to the Bedrock emulator, with its faults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config.registry import Deployment, load_registry
from chalicelib.evaluation.cache import MemoryCache, SqliteCache
from chalicelib.evaluation.datasets import Dataset, Item
from chalicelib.evaluation.runner import Evaluator, evaluate_chunk
from chalicelib.evaluation.totals import EvaluationTotals
from chalicelib.providers.retries import EVALUATION, RetryPolicy
from chalicelib.serving.parsing import normalise_label, parse_output

ROOT = Path(__file__).resolve().parents[2]
TEST_SET = ROOT / "examples" / "drugreview" / "openai" / "test.jsonl"
LABELS = {"type": "label", "labels": ["negative", "neutral", "positive"]}


@pytest.fixture()
def runner_stack(local_stack: Any) -> Iterator[Any]:
    """The shared stack with a clean emulator. No environment override: the stack's
    MODEL_MAX_ATTEMPTS (3) is the invoke path's; every retry here is still the runner's own."""
    local_stack.emulator.reset()
    yield local_stack
    local_stack.emulator.reset()


def registry(runner_stack: Any) -> dict[str, Deployment]:
    return {d.name: d for d in load_registry(runner_stack.models_file).deployments}


def deployment(**fields: Any) -> Deployment:
    from emulator import REFERENCE_MODEL_ARN

    base: dict[str, Any] = {
        "name": "custom",
        "provider": "bedrock",
        "model_id": REFERENCE_MODEL_ARN,
        "request_format": "converse",
        "inference": {"max_tokens": 5, "stop": ["\n"]},
        "output": LABELS,
    }
    return Deployment.model_validate({**base, **fields})


def items(limit: int) -> list[Item]:
    return list(Dataset.from_path(TEST_SET).items(limit))


def calls(runner_stack: Any) -> int:
    return int(runner_stack.emulator.stats()["total"])


def without_latency(results: dict[str, Any]) -> dict[str, Any]:
    def strip(metrics: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in metrics.items() if k != "latency_ms"}
        if "per_category" in out:
            out["per_category"] = {c: strip(m) for c, m in out["per_category"].items()}
        return out

    return {**results, "results": {m: strip(r) for m, r in results["results"].items()}}


def test_items_are_answered_and_scored_with_the_shared_parser(runner_stack: Any) -> None:
    models = registry(runner_stack)
    chosen = [models["sentiment-converse"], models["sentiment-legacy"]]
    outcome = evaluate_chunk(items(40), chosen, concurrency=8)
    assert calls(runner_stack) == 80
    assert [r.item.index for r in outcome.results] == list(range(40))
    correct = {name: 0 for name in ("sentiment-converse", "sentiment-legacy")}
    for result in outcome.results:
        assert [a.model for a in result.answers] == ["sentiment-converse", "sentiment-legacy"]
        for answer, spec in zip(result.answers, chosen, strict=True):
            assert answer.status in ("ok", "invalid")
            assert answer.output is not None and answer.attempts == 1 and not answer.cached
            parsed = parse_output(spec.output, answer.output)
            assert answer.prediction == parsed.prediction
            assert answer.status == ("ok" if parsed.valid else "invalid")
            assert answer.latency_ms is not None and answer.latency_ms > 0
            assert answer.input_tokens > 0
            correct[answer.model] += answer.prediction == normalise_label(result.item.reference)
    metrics = outcome.totals.results(resamples=20)["results"]
    for name, hits in correct.items():
        assert metrics[name]["n"] == 40
        assert metrics[name]["accuracy"] == pytest.approx(hits / 40)
    assert outcome.totals.n_items == 40 and outcome.totals.model_calls == 80


def test_injected_faults_give_the_same_metrics_as_a_clean_run(runner_stack: Any) -> None:
    models = registry(runner_stack)
    chosen = [models["sentiment-converse"], models["sentiment-legacy"]]
    data = items(60)
    clean = evaluate_chunk(data, chosen, concurrency=8, seed=4)
    assert calls(runner_stack) == 120
    runner_stack.emulator.reset()
    runner_stack.emulator.set_faults(
        throttle_rate=0.2,
        model_not_ready_rate=0.05,
        timeout_rate=0.02,
        malformed_rate=0.03,
        timeout_seconds=2,
        seed=11,
    )
    policy = replace(
        EVALUATION,
        first_delay={
            "throttled": 0.01,
            "model_not_ready": 0.02,
            "model_timeout": 0.01,
            "model_error": 0.01,
        },
    )
    evaluator = Evaluator(chosen, concurrency=8, policy=policy)
    faulty = EvaluationTotals([d.name for d in chosen], seed=4)
    for result in evaluator.run(data):
        faulty.add(result)
    outcomes = runner_stack.emulator.stats()["outcomes"]
    for fault in ("ThrottlingException", "ModelNotReadyException", "malformed"):
        assert outcomes.get(fault, 0) > 0, outcomes
    assert evaluator.model_calls == calls(runner_stack) > 120
    assert evaluator.limit.decreases > 0  # throttling lowered the concurrency
    assert faulty.n_items_with_errors == 0
    want = without_latency(clean.totals.results(resamples=200))
    got = without_latency(faulty.results(resamples=200))
    assert got == want


def test_chunks_served_from_the_cache_merge_into_one_pass(runner_stack: Any) -> None:
    models = registry(runner_stack)
    chosen = [models["sentiment-converse"], models["sentiment-legacy"]]
    cache = MemoryCache()
    data = items(50)
    whole = evaluate_chunk(data, chosen, cache=cache, samples=7, seed=2)
    assert len(cache) == 100 and calls(runner_stack) == 100
    merged = EvaluationTotals([d.name for d in chosen], samples=7, seed=2)
    for start in range(0, 50, 16):
        part = evaluate_chunk(data[start : start + 16], chosen, cache=cache, samples=7, seed=2)
        assert all(a.cached and a.attempts == 0 for r in part.results for a in r.answers)
        merged.merge(part.totals)
    assert calls(runner_stack) == 100  # nothing called again
    assert merged.results(resamples=50) == whole.totals.results(resamples=50)


def test_errors_are_never_cached(runner_stack: Any, tmp_path: Path) -> None:
    from emulator import REFERENCE_MODEL_ARN

    chosen = [registry(runner_stack)["sentiment-converse"]]
    data = items(20)
    runner_stack.emulator.script(
        [{"model_id": REFERENCE_MODEL_ARN, "error": "ModelErrorException"}] * 5
    )
    once = RetryPolicy(attempts={})  # nothing retried: the scripted errors stick
    with SqliteCache(tmp_path / "cache.sqlite") as cache:
        first = evaluate_chunk(data, chosen, concurrency=1, cache=cache, policy=once)
        errors = [r.item.index for r in first.results if r.has_error]
        assert errors == [0, 1, 2, 3, 4]
        assert {r.answers[0].error_code for r in first.results[:5]} == {"model_error"}
        assert len(cache) == 15
    runner_stack.emulator.reset()
    with SqliteCache(tmp_path / "cache.sqlite") as cache:  # a new process would reopen it
        second = evaluate_chunk(data, chosen, concurrency=4, cache=cache)
        assert calls(runner_stack) == 5  # only the items that failed
        assert not any(r.has_error for r in second.results)
        assert [r.item.index for r in second.results if not r.answers[0].cached] == errors
        assert len(cache) == 20


def test_sampled_answers_are_not_cached(runner_stack: Any) -> None:
    sampled = deployment(name="sampled", inference={"max_tokens": 5, "temperature": 0.7})
    cache = MemoryCache()
    data = items(10)
    evaluate_chunk(data, [sampled], cache=cache)
    evaluate_chunk(data, [sampled], cache=cache)
    assert len(cache) == 0
    assert calls(runner_stack) == 20


def test_unparseable_answers_are_invalid_and_not_retried(runner_stack: Any) -> None:
    echo_arn = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/echo-x"
    echo = deployment(name="echo-label", model_id=echo_arn)
    records = [{"input": f"the weather on day {i}", "target": "positive"} for i in range(6)]
    outcome = evaluate_chunk(Dataset.from_records("inline", records).items(), [echo])
    assert {a.status for r in outcome.results for a in r.answers} == {"invalid"}
    assert all(a.attempts == 1 and a.output for r in outcome.results for a in r.answers)
    assert calls(runner_stack) == 6
    metrics = outcome.totals.results(resamples=10)["results"]["echo-label"]
    assert (metrics["n_invalid"], metrics["accuracy"], metrics["invalid_rate"]) == (6, 0.0, 1.0)


def test_a_missing_model_fails_each_item_once_without_retries(runner_stack: Any) -> None:
    missing = deployment(
        name="missing", model_id="arn:aws:bedrock:us-east-1:000000000000:provisioned-model/none"
    )
    outcome = evaluate_chunk(items(5), [missing])
    assert [a.error_code for r in outcome.results for a in r.answers] == ["model_error"] * 5
    assert all(a.attempts == 1 for r in outcome.results for a in r.answers)
    assert calls(runner_stack) == 5
    assert outcome.totals.results(resamples=10)["results"]["missing"]["n_error"] == 5


def test_an_unexpected_failure_stays_with_its_item(runner_stack: Any) -> None:
    from chalicelib.providers import complete

    chosen = registry(runner_stack)["sentiment-converse"]

    def flaky(dep: Deployment, prompt: Any, params: Any) -> Any:
        if "Celexa" in prompt.messages[-1].content:
            raise RuntimeError("a bug")
        return complete(dep, prompt, params)

    evaluator = Evaluator([chosen], call=flaky)
    results = sorted(evaluator.run(items(12)), key=lambda r: r.item.index)
    failed = [r.item.index for r in results if r.has_error]
    expected = [r.item.index for r in results if "Celexa" in str(r.item.input)]
    assert failed == expected and len(failed) >= 1
    assert {r.answers[0].error_code for r in results if r.has_error} == {"internal_error"}
    assert len(results) == 12


def test_ordered_results_come_in_input_order_behind_a_slow_first_item(runner_stack: Any) -> None:
    """`ordered=True` (the CLI's items.jsonl): input order whatever the completion order, and at
    most ORDER_AHEAD windows held behind the slow first item (memory stays bounded)."""
    import threading

    from chalicelib.evaluation.runner import ORDER_AHEAD
    from chalicelib.providers import complete

    chosen = registry(runner_stack)["sentiment-converse"]
    first = items(1)[0].input
    started = {"others": 0}
    lock, enough = threading.Lock(), threading.Event()
    limit = ORDER_AHEAD * 4 - 1  # concurrency 2: a window of 4, the first item among them

    def slow_first(dep: Deployment, prompt: Any, params: Any) -> Any:
        if prompt.messages[-1].content.startswith(str(first)[:40]):
            enough.wait(30)  # until the runner has started all it may hold behind this one
            seen = started["others"]
            answer = complete(dep, prompt, params)
            started["at_release"] = seen
            return answer
        with lock:
            started["others"] += 1
            if started["others"] >= limit:
                enough.set()
        return complete(dep, prompt, params)

    evaluator = Evaluator([chosen], concurrency=2, call=slow_first)
    results = list(evaluator.run(items(60), ordered=True))
    assert [r.item.index for r in results] == list(range(60))
    assert not any(r.has_error for r in results)
    assert started["at_release"] == limit
