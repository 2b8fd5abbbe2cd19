"""The metric table drives every output, and one `assemble` step builds results.json for the CLI
and the job finaliser alike."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.evaluation import commands, outputs, report, results
from chalicelib.evaluation.metric_table import METRICS, Metric
from chalicelib.evaluation.metrics import ModelMetrics
from chalicelib.evaluation.results import JobRun, assemble
from chalicelib.evaluation.totals import EvaluationTotals
from tests.evaluation.sample_results import make_run

ROOT = Path(__file__).resolve().parents[2]
MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
CLI_META = [
    "dataset",
    "models",
    "seed",
    "limit",
    "started_at",
    "finished_at",
    "n_items",
    "n_dataset_items",
    "status",
    "n_items_with_errors",
    "n_answers_cached",
    "model_calls",
    "concurrency",
    "duration_seconds",
]


def _assemble(job: JobRun | None, *, cancelled: bool = False) -> dict[str, Any]:
    started = datetime(2026, 3, 2, 10, 15, 0, 123456, tzinfo=UTC)
    run = assemble(
        EvaluationTotals(["base", "tuned"]),
        [],
        dataset="test.jsonl",
        seed=3,
        limit=None,
        started=started,
        finished=started + timedelta(seconds=90.5),
        n_dataset_items=12,
        concurrency=4,
        cancelled=cancelled,
        job=job,
    )
    return run.to_json()


def test_the_cli_and_a_job_get_the_same_meta_and_timestamps() -> None:
    cli = _assemble(None)
    job = _assemble(JobRun("ev-1", skipped_lines=2, round=1))
    assert list(cli) == ["results", "comparison", "samples", "meta"] == list(job)
    assert list(cli["meta"]) == CLI_META
    # a job's own fields in the places results.json has always had them
    assert list(job["meta"]) == [
        "evaluation_id",
        *CLI_META[:8],
        "skipped_lines",
        "status",
        "round",
        *CLI_META[9:],
    ]
    assert {k: v for k, v in job["meta"].items() if k in CLI_META} == cli["meta"]
    for meta in (cli["meta"], job["meta"]):
        assert MILLISECONDS.fullmatch(meta["started_at"])
        assert MILLISECONDS.fullmatch(meta["finished_at"])
        assert meta["started_at"] == "2026-03-02T10:15:00.123+00:00"
        assert meta["duration_seconds"] == 90.5
        assert meta["status"] == "succeeded" and meta["models"] == ["base", "tuned"]
    assert _assemble(None, cancelled=True)["meta"]["status"] == "cancelled"


def test_every_table_metric_is_computed_with_its_spread() -> None:
    computed = ModelMetrics().result()
    for metric in METRICS:
        assert metric.key in computed
        if metric.spread_key:
            assert metric.spread_key in computed


def test_the_emf_metrics_are_the_contracts_and_the_dashboards() -> None:
    emf = [m.emf for m in METRICS if m.emf]
    assert emf == ["EvaluationAccuracy", "EvaluationF1Macro", "EvaluationMAE"]
    dashboard = (ROOT / "infra" / "resources.json").read_text()
    assert all(name in dashboard for name in emf)


BALANCED = Metric(
    "balanced_accuracy",
    "Balanced accuracy",
    "balanced acc",
    True,
    "balanced_acc",
    display="rate",
    emf="EvaluationBalancedAccuracy",
    cli="percent",
    per_category=True,
)


class _Inference:
    stop = ("\n",)
    max_tokens = 5
    temperature = 0.0
    top_p = 1.0


class _Deployment:
    provider, request_format = "bedrock", "converse"
    inference = _Inference()
    output = type("Output", (), {"type": "label"})()

    def __init__(self, name: str) -> None:
        self.name = name


def test_a_new_table_row_reaches_every_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a metric is its computation plus one row: the report, the CLI table, lm-eval's
    file and the EMF metrics follow."""
    extended = (*METRICS, BALANCED)
    for module in (report, commands, outputs, results):
        monkeypatch.setattr(module, "METRICS", extended)
    run, items = make_run(("base", "tuned"), n_items=40)
    for i, model in enumerate(run["results"].values()):
        model["balanced_accuracy"] = 0.25 + i / 2
        for per in model["per_category"].values():
            per["balanced_accuracy"] = 0.5

    page = report.render_report(run, iter(items))
    assert "Balanced accuracy" in page and "75.0%" in page
    assert "balanced acc</th>" in page  # a per-category column
    table = commands.metrics_table(run["results"])
    assert "balanced acc" in table.splitlines()[0] and "25.0%" in table
    lm_eval = outputs.lm_eval_document(
        run,
        [_Deployment("base"), _Deployment("tuned")],  # type: ignore[list-item]
        n_dataset_items=40,
    )
    assert lm_eval["results"]["tuned"]["balanced_acc,none"] == 0.75
    assert lm_eval["higher_is_better"]["base"]["balanced_acc"] is True
    assert {"metric": "balanced_acc", "aggregation": "balanced_acc", "higher_is_better": True} in (
        lm_eval["configs"]["base"]["metric_list"]
    )
    meta = results.RunMeta(**_assemble(None)["meta"])
    with_results = results.EvaluationResults(run["results"], [], [], meta)
    emitted = with_results.emf_values()
    assert emitted["tuned"]["EvaluationBalancedAccuracy"] == 0.75
    assert emitted["base"]["EvaluationAccuracy"] == run["results"]["base"]["accuracy"]
    json.dumps(with_results.to_json())
