"""LLM-as-judge through evaluation jobs on the local stack: the emulator's judge model answers
the judge prompts over real HTTP, judge calls share the runner and the exactly-once chunks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import Harness
from tests.jobs.test_lifecycle import error_of

ROOT = Path(__file__).resolve().parents[2]
EXPLAIN = ROOT / "examples" / "explain" / "explain.jsonl"
PAIR = ["echo-converse", "base-text"]
JUDGE_ID = "tunegate.judge-v1:0"


def explain_records(n: int | None = None) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in EXPLAIN.read_text().splitlines() if line.strip()]
    return lines[:n] if n is not None else lines


def judge_calls(jobs: Harness) -> int:
    return int(jobs.emulator.stats()["models"].get(JUDGE_ID, {}).get("total", 0))


def one_pass(records: list[dict[str, Any]], models: list[str], judge: dict[str, Any]) -> Any:
    """The same evaluation in one in-process pass: what the chunked job must equal."""
    from chalicelib.config.registry import load_registry
    from chalicelib.config.settings import get_settings
    from chalicelib.evaluation.datasets import Dataset
    from chalicelib.evaluation.judge import JudgeSpec, resolve_judge
    from chalicelib.evaluation.judge_run import Judge
    from chalicelib.evaluation.runner import evaluate_chunk

    registry = load_registry(get_settings().models_file)
    deployments = registry.select(models)
    plan = resolve_judge(
        JudgeSpec.model_validate(judge), lambda n: registry.select([n])[0], deployments
    )
    items = list(Dataset.from_records("t", records).items())
    outcome = evaluate_chunk(items, deployments, concurrency=4, judge=Judge(plan), samples=0)
    return outcome.totals.results(judge=plan)["judge"]


def test_a_pairwise_judge_job_on_the_example_set(jobs: Harness) -> None:
    records = explain_records()
    judge = {"model": "judge", "mode": "pairwise"}
    expected = one_pass(records, PAIR, judge)
    jobs.emulator.reset()
    evaluation_id = jobs.submit({"models": PAIR, "dataset": {"records": records}, "judge": judge})
    job = jobs.run(evaluation_id)

    assert job["status"] == "succeeded"
    for model in PAIR:
        assert job["results"][model]["rouge_l"] is not None
        assert job["results"][model]["chrf_ci95"] is not None
    verdict = job["judge"]
    assert verdict["prompt_version"] == "pairwise-v1" and verdict["rubric"]
    pair = verdict["pairwise"]["pairs"][0]
    assert (pair["a"], pair["b"]) == tuple(PAIR)
    assert pair["n"] == len(records) and verdict["calls"] == 2 * len(records)
    assert pair["wins"] > pair["losses"]  # the echo repeats the review; the base says a word
    low, high = pair["win_rate_ci95"]
    assert low <= pair["win_rate"] <= high
    assert pair["sign_test_p"] < 0.05
    assert verdict["pairwise"]["win_rate_matrix"][0][1] == pair["win_rate"]
    assert verdict["cost_usd"] > 0 and verdict["usage"]["input_tokens"] > 0
    assert verdict == expected  # chunks merged = one pass
    assert judge_calls(jobs) == 2 * len(records)

    items = jobs.items(evaluation_id)
    first = next(r for r in items if r["model"] == PAIR[0])
    assert [tuple(j["models"]) for j in first["judge"]] == [tuple(PAIR), tuple(reversed(PAIR))]
    assert all(j["reason"] for j in first["judge"])
    report = jobs.get(f"/v1/evaluations/{evaluation_id}/report").body
    report = report.decode() if isinstance(report, bytes) else report
    assert 'id="judge-matrix"' in report and "pairwise-v1" in report
    assert 'class="judge-reason"' in report and "Overlap with the reference" in report


def test_a_redelivered_chunk_does_not_count_judge_verdicts_twice(jobs: Harness) -> None:
    records = explain_records(40)
    judge = {"model": "judge", "mode": "pairwise"}
    expected = one_pass(records, PAIR, judge)
    jobs.emulator.reset()
    jobs.worker.redeliver = True  # every message handled twice
    evaluation_id = jobs.submit({"models": PAIR, "dataset": {"records": records}, "judge": judge})
    job = jobs.run(evaluation_id)
    jobs.drain()

    assert job["status"] == "succeeded"
    assert job["judge"] == expected
    assert job["judge"]["pairwise"]["pairs"][0]["n"] == len(records)
    assert judge_calls(jobs) == 2 * len(records)  # second deliveries call no judge


def test_rubric_mode_counts_unreadable_judge_answers(jobs: Harness) -> None:
    records = explain_records(30)
    jobs.emulator.script([{"model_id": JUDGE_ID, "text": "Both answers look fine to me."}] * 3)
    body = {
        "models": ["echo-converse"],
        "dataset": {"records": records},
        "judge": {"model": "judge", "mode": "rubric", "criteria": ["correctness", "clarity"]},
    }
    job = jobs.run(jobs.submit(body))

    assert job["status"] == "succeeded"  # an unreadable answer is counted, not an error
    verdict = job["judge"]
    assert verdict["prompt_version"] == "rubric-v1"
    assert verdict["n_unreadable"] == 3 and verdict["n_ok"] == len(records) - 3
    scores = verdict["rubric_scores"]["echo-converse"]["criteria"]
    assert scores["correctness"]["n"] == len(records) - 3
    low, high = scores["correctness"]["ci95"]
    assert 1 <= low <= scores["correctness"]["mean"] <= high <= 5
    assert set(verdict["rubric_scores"]["echo-converse"]["per_category"]) <= {
        "negative",
        "neutral",
        "positive",
    }


@pytest.mark.parametrize(
    ("judge", "models", "status", "field"),
    [
        ({"model": "nope", "mode": "rubric"}, PAIR, 400, "judge.model"),
        ({"model": "sentiment-converse", "mode": "rubric"}, PAIR, 400, "judge.model"),
        ({"model": "judge", "mode": "pairwise"}, PAIR[:1], 400, "judge.mode"),
        ({"model": "judge", "mode": "vote"}, PAIR, 400, "judge.mode"),
        (
            {"model": "judge", "mode": "rubric", "criteria": ["Bad Name"]},
            PAIR,
            400,
            "judge.criteria",
        ),
        ({"model": "judge", "mode": "rubric", "criteria": ["a", "a"]}, PAIR, 400, "judge.criteria"),
        (
            {"model": "judge", "mode": "rubric", "criteria": list("abcdefghi")},
            PAIR,
            400,
            "judge.criteria",
        ),
        ({"model": "judge", "mode": "rubric", "rubric": "x" * 4001}, PAIR, 400, "judge.rubric"),
        ({"model": "judge", "mode": "rubric", "samples": 0}, PAIR, 400, "judge.samples"),
        ({"model": "judge", "mode": "rubric", "tone": "kind"}, PAIR, 400, "judge.tone"),
        ({"mode": "rubric"}, PAIR, 400, "judge.model"),
        ({"model": "judge", "criteria": None, "rubric": None}, PAIR, 400, "judge.mode"),
    ],
)
def test_a_bad_judge_is_a_400_naming_the_field_before_any_model_call(
    jobs: Harness, judge: dict[str, Any], models: list[str], status: int, field: str
) -> None:
    body = {"models": models, "dataset": {"records": explain_records(2)}, "judge": judge}
    error = error_of(jobs.post("/v1/evaluations", body), status)
    assert error["code"] == "invalid_request"
    assert any(d["field"].startswith(field) for d in error["details"]), error
    assert jobs.calls() == 0


def test_a_failed_judge_call_is_an_error_that_retry_judges_again(jobs: Harness) -> None:
    records = explain_records(20)
    judge = {"model": "judge", "mode": "pairwise"}
    expected = one_pass(records, PAIR, judge)
    jobs.emulator.reset()
    # Access denied is permanent: neither botocore nor the runner asks again.
    jobs.emulator.script([{"model_id": JUDGE_ID, "error": "AccessDeniedException"}] * 2)
    evaluation_id = jobs.submit({"models": PAIR, "dataset": {"records": records}, "judge": judge})
    job = jobs.run(evaluation_id)

    assert job["status"] == "completed_with_errors"
    assert job["judge"]["n_error"] == 2
    pair = job["judge"]["pairwise"]["pairs"][0]
    assert 1 <= pair["n_error"] <= 2 and pair["n"] == len(records) - pair["n_error"]
    assert 1 <= job["progress"]["errors"] <= 2

    jobs.emulator.reset()
    assert jobs.post(f"/v1/evaluations/{evaluation_id}/retry").status_code == 202
    job = jobs.run(evaluation_id)

    assert job["status"] == "succeeded"
    assert job["judge"] == expected
    assert jobs.calls() == judge_calls(jobs) <= 4  # no model asked again; only those items judged
