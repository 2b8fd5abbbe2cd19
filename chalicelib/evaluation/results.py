"""What `results.json` holds, typed (`EvaluationResults`), and the one `assemble` step that builds
it from the merged totals: the CLI's `evaluate` and the job finaliser share it, so both write the
same meta with the same timestamp precision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from chalicelib.config.registry import Deployment
from chalicelib.evaluation.judge import JudgePlan
from chalicelib.evaluation.metric_table import METRICS
from chalicelib.evaluation.outputs import lm_eval_document, run_pricing, write_outputs
from chalicelib.evaluation.totals import EvaluationTotals

RunStatus = Literal["succeeded", "completed_with_errors", "cancelled"]
ModelResult = dict[str, Any]  # METRICS (CONTRACT section 5); its scalar keys: metric_table


def timestamp(moment: datetime) -> str:
    """Run times in results.json, as the job record writes its own (milliseconds)."""
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobRun:
    """What only a job's run has: its id, the dataset lines it skipped, its retry round."""

    evaluation_id: str
    skipped_lines: int
    round: int


@dataclass(frozen=True)
class RunMeta:
    dataset: str
    models: list[str]
    seed: int
    limit: int | None
    started_at: str
    finished_at: str
    n_items: int
    n_dataset_items: int | None
    status: RunStatus
    n_items_with_errors: int
    n_answers_cached: int
    model_calls: int
    concurrency: int
    duration_seconds: float
    job: JobRun | None = None

    def to_json(self) -> dict[str, Any]:
        """The `meta` object; a job's fields in their places (id first)."""
        job = self.job
        out: dict[str, Any] = {} if job is None else {"evaluation_id": job.evaluation_id}
        out |= {
            "dataset": self.dataset,
            "models": self.models,
            "seed": self.seed,
            "limit": self.limit,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "n_items": self.n_items,
            "n_dataset_items": self.n_dataset_items,
        }
        if job is not None:
            out["skipped_lines"] = job.skipped_lines
        out["status"] = self.status
        if job is not None:
            out["round"] = job.round
        out |= {
            "n_items_with_errors": self.n_items_with_errors,
            "n_answers_cached": self.n_answers_cached,
            "model_calls": self.model_calls,
            "concurrency": self.concurrency,
            "duration_seconds": self.duration_seconds,
        }
        return out


@dataclass(frozen=True)
class EvaluationResults:
    """results.json: METRICS per model, the pairwise comparison, the kept samples, the meta."""

    results: dict[str, ModelResult]
    comparison: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    meta: RunMeta
    #: The judge's findings (CONTRACT section 10); None when the run had no judge.
    judge: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        document = {
            "results": self.results,
            "comparison": self.comparison,
            "samples": self.samples,
        }
        if self.judge is not None:
            document["judge"] = self.judge
        document["meta"] = self.meta.to_json()
        return document

    def write(
        self, out_dir: Path, deployments: Sequence[Deployment], items_path: Path
    ) -> list[Path]:
        """The four output files (results.json, items.jsonl, lm-eval's files, report.html)."""
        document = self.to_json()
        n_dataset_items = self.meta.n_dataset_items or 0
        lm_eval = lm_eval_document(document, deployments, n_dataset_items=n_dataset_items)
        return write_outputs(out_dir, document, lm_eval, items_path)

    def emf_values(self) -> dict[str, dict[str, float]]:
        """Per model, the EMF metrics of the metric table that this run defines."""
        return {
            model: {
                m.emf: result[m.key] for m in METRICS if m.emf and result.get(m.key) is not None
            }
            for model, result in self.results.items()
        }


def run_status(totals: EvaluationTotals, *, cancelled: bool = False) -> RunStatus:
    if cancelled:
        return "cancelled"
    return "completed_with_errors" if totals.n_items_with_errors else "succeeded"


def assemble(
    totals: EvaluationTotals,
    deployments: Sequence[Deployment],
    *,
    dataset: str,
    seed: int,
    limit: int | None,
    started: datetime,
    finished: datetime,
    n_dataset_items: int | None,
    concurrency: int,
    seconds: float | None = None,
    cancelled: bool = False,
    job: JobRun | None = None,
    judge: JudgePlan | None = None,
) -> EvaluationResults:
    """The run's results: metrics priced for the capacity held `seconds` (default: the wall
    time from `started` to `finished`) and the meta."""
    if seconds is None:
        seconds = max(0.0, (finished - started).total_seconds())
    pricing = {d.name: run_pricing(d, seconds / 3600) for d in deployments}
    body = totals.results(pricing, judge=judge)
    meta = RunMeta(
        dataset=dataset,
        models=list(totals.models),
        seed=seed,
        limit=limit,
        started_at=timestamp(started),
        finished_at=timestamp(finished),
        n_items=totals.n_items,
        n_dataset_items=n_dataset_items,
        status=run_status(totals, cancelled=cancelled),
        n_items_with_errors=totals.n_items_with_errors,
        n_answers_cached=totals.n_answers_cached,
        model_calls=totals.model_calls,
        concurrency=concurrency,
        duration_seconds=round(seconds, 3),
        job=job,
    )
    return EvaluationResults(
        body["results"], body["comparison"], body["samples"], meta, body.get("judge")
    )
