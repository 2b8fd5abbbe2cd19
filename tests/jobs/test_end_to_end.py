"""A job from POST to report: inline records of the drug-review test set, chunked, run by the
worker, merged by the finaliser; everything it serves equals one in-process pass."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.evaluation.test_evaluate_cli import ITEM_FIELDS
from tests.jobs.conftest import MODELS, Harness, comparable, drug_review_records

TIMES = ("started_at", "finished_at")


def emf_docs(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def evaluation_metrics(text: str) -> dict[str, dict[str, float]]:
    """Evaluation* values per model from the EMF output (each model once, or it fails)."""
    found: dict[str, dict[str, float]] = {}
    for doc in emf_docs(text):
        names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        if not any(n.startswith("Evaluation") for n in names):
            continue
        assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["model"]]
        assert doc["model"] not in found, "metrics emitted twice for one model"
        # Powertools writes each value as a list of the values added in one flush
        found[doc["model"]] = {n: doc[n][0] if isinstance(doc[n], list) else doc[n] for n in names}
    return found


def test_inline_job_end_to_end(
    jobs: Harness, reference: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    records = drug_review_records()
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    queued = jobs.job(evaluation_id)
    assert queued["status"] == "queued" and queued["results"] is None
    capsys.readouterr()
    job = jobs.run(evaluation_id)
    emitted = evaluation_metrics(capsys.readouterr().out)

    assert job["status"] == "succeeded"
    assert job["progress"] == {"total": len(records), "done": len(records), "errors": 0}
    assert job["finished_at"] and job["created_at"] <= job["finished_at"]
    assert comparable(job) == comparable(reference)
    # every item once per model, nothing asked twice
    assert jobs.calls() == len(records) * len(MODELS)
    assert jobs.record(evaluation_id).n_chunks == 10

    for model in MODELS:
        metrics = job["results"][model]
        assert metrics["n"] + metrics["n_error"] == len(records)
        assert emitted[model]["EvaluationAccuracy"] == pytest.approx(metrics["accuracy"])
        assert emitted[model]["EvaluationF1Macro"] == pytest.approx(metrics["f1_macro"])
        assert emitted[model]["EvaluationMAE"] == pytest.approx(metrics["mae"])
        # baselines merged from the ten chunks' counts: those of the whole set in one pass
        assert metrics["baselines"] is not None
        assert metrics["baselines"] == reference["results"][model]["baselines"]
    assert set(emitted) == set(MODELS)

    results = json.loads(jobs.get(f"/v1/evaluations/{evaluation_id}/results.json").body)
    assert comparable(results) == comparable(reference)
    assert results["meta"]["evaluation_id"] == evaluation_id
    # one assemble step for jobs and the CLI: run times in milliseconds, as the job record's
    meta = results["meta"]
    assert meta["finished_at"] == job["finished_at"]
    assert all(re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{3}\+00:00", meta[k]) for k in TIMES)


def test_items_pages_and_status_filter(jobs: Harness, reference: dict[str, Any]) -> None:
    records = drug_review_records()
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    jobs.run(evaluation_id)

    every = jobs.items(evaluation_id, "limit=7")
    assert len(every) == len(records) * len(MODELS)
    assert [(r["index"], r["model"]) for r in every] == [
        (i, m) for i in range(len(records)) for m in MODELS
    ]
    want = {
        (r.item.index, a.model): (a.output, a.prediction, a.status)
        for r in reference["outcome"].results
        for a in r.answers
    }
    assert {
        (r["index"], r["model"]): (r["output"], r["prediction"], r["status"]) for r in every
    } == want
    first = every[0]
    assert first["input"] == records[0]["prompt"]
    assert first["reference"] == records[0]["completion"].strip()
    assert ITEM_FIELDS - {"category"} <= set(first)

    for status in ("ok", "invalid", "error"):
        filtered = jobs.items(evaluation_id, f"status={status}&limit=5")
        assert [r for r in every if r["status"] == status] == filtered
    n_invalid = sum(reference["results"][m]["n_invalid"] for m in MODELS)
    assert len(jobs.items(evaluation_id, "status=invalid")) == n_invalid

    bad = jobs.get(f"/v1/evaluations/{evaluation_id}/items?cursor=not-a-cursor")
    assert bad.status_code == 400
    assert json.loads(bad.body)["error"]["details"][0]["field"] == "cursor"
    assert jobs.get(f"/v1/evaluations/{evaluation_id}/items?status=maybe").status_code == 400


def test_report_and_lm_eval_results(jobs: Harness, reference: dict[str, Any]) -> None:
    evaluation_id = jobs.submit(
        {"models": MODELS, "dataset": {"records": drug_review_records()}, "limit": 40, "seed": 3}
    )
    job = jobs.run(evaluation_id)
    assert job["progress"]["total"] == 40

    report = jobs.get(f"/v1/evaluations/{evaluation_id}/report")
    assert report.status_code == 200
    assert report.headers["Content-Type"].startswith("text/html")
    csp = report.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    page = report.body.decode()
    assert page.startswith("<!DOCTYPE html>") and f'content="{csp}"' in page
    assert "<script" not in page
    for model in MODELS:
        assert model in page

    lm = json.loads(jobs.get(f"/v1/evaluations/{evaluation_id}/results.json?format=lm-eval").body)
    for model in MODELS:
        assert lm["results"][model]["acc,none"] == pytest.approx(job["results"][model]["accuracy"])
        assert lm["results"][model]["f1_macro,none"] == pytest.approx(
            job["results"][model]["f1_macro"]
        )
        assert lm["n-samples"][model] == {"original": 98, "effective": job["results"][model]["n"]}
    assert lm["config"]["random_seed"] == 3 and lm["config"]["limit"] == 40
    bad = jobs.get(f"/v1/evaluations/{evaluation_id}/results.json?format=csv")
    assert bad.status_code == 400
