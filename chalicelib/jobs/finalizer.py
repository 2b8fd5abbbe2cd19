"""The one finaliser of a round: claims the job (a conditional write with a lease), merges the
committed chunks' totals, writes the four output files to S3, sets the final status and, for a
completed job, emits the Evaluation* metrics once."""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from chalicelib.config.settings import WORKER_TIMEOUT_SECONDS
from chalicelib.evaluation.outputs import ITEMS, LM_EVAL, REPORT, RESULTS, ItemsSpool
from chalicelib.evaluation.results import EvaluationResults, JobRun, assemble
from chalicelib.evaluation.totals import EvaluationTotals
from chalicelib.jobs.context import JobContext
from chalicelib.jobs.judging import job_judge
from chalicelib.jobs.models import JobRecord, Status
from chalicelib.jobs.parallel import ordered_map
from chalicelib.observability import MetricUnit, logger, metrics

# One process may finalise from several threads (the local worker); EMF sets are process-wide.
_METRICS_LOCK = threading.Lock()


def finalize(ctx: JobContext, job: JobRecord) -> bool:
    """Finalise `job` (running with every chunk committed, or cancelled); False when another
    finaliser holds the claim or the outputs already exist."""
    status: Status = job.status
    token = uuid.uuid4().hex
    claimed = ctx.store.claim_finalizer(
        job.evaluation_id,
        status=status,
        round=job.round,
        token=token,
        lease_seconds=WORKER_TIMEOUT_SECONDS,
    )
    if not claimed:
        return False
    try:
        run, totals = _write_results(ctx, job)
        final: Status = run.meta.status
        if status == "cancelled":
            # A cancelled retry round keeps the chunks it did not reach: count what is shown.
            sets: dict[str, Any] = {"done": totals.n_items, "errors": totals.n_items_with_errors}
        else:
            sets = {"finished_at": run.meta.finished_at}
        finished = ctx.store.finish(
            job.evaluation_id,
            status=status,
            new_status=final,
            round=job.round,
            token=token,
            sets=sets,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            ctx.store.release_finalizer(job.evaluation_id, token)
        raise
    if not finished:  # cancelled while finalising: the cancel's own finaliser takes over
        ctx.store.release_finalizer(job.evaluation_id, token)
        return False
    logger.info(
        "evaluation finished",
        extra={"evaluation_id": job.evaluation_id, "status": final, "items": totals.n_items},
    )
    if final != "cancelled":
        emit_metrics(run)
    return True


def emit_metrics(run: EvaluationResults) -> None:
    """The metric table's EMF metrics (EvaluationAccuracy, ...) per model (dimension `model`)."""
    with _METRICS_LOCK:
        for model, values in run.emf_values().items():
            metrics.add_dimension(name="model", value=model)
            for name, value in values.items():
                metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=value)
            if metrics.metric_set:
                metrics.flush_metrics()
            else:
                metrics.clear_metrics()


def _write_results(ctx: JobContext, job: JobRecord) -> tuple[EvaluationResults, EvaluationTotals]:
    deployments = ctx.deployments(job.models, job.versions)
    judge = job_judge(ctx, job, deployments)
    totals = EvaluationTotals(
        job.models, samples=job.samples, seed=job.seed, judged=judge is not None
    )
    with TemporaryDirectory(prefix="tunegate-final-") as tmp:
        folder = Path(tmp)
        spool = ItemsSpool(folder)
        try:
            keys = (record.object_key for record in ctx.store.chunks(job.evaluation_id))
            for chunk_results, chunk_totals in ordered_map(ctx.objects.get_chunk, keys):
                totals.merge(chunk_totals)
                for result in chunk_results:
                    spool.write(result)
        finally:
            spool.close()
        finished = datetime.now(UTC)
        started = _parse_time(job.started_at) or _parse_time(job.created_at) or finished
        run = assemble(
            totals,
            deployments,
            dataset=job.dataset,
            seed=job.seed,
            limit=job.limit,
            started=started,
            finished=finished,
            n_dataset_items=job.n_dataset_items,
            concurrency=job.chunks_in_flight * job.chunk_concurrency,
            cancelled=job.status == "cancelled",
            job=JobRun(job.evaluation_id, job.skipped_lines, job.round),
            judge=judge,
        )
        out_dir = folder / "out"
        out_dir.mkdir()
        run.write(out_dir, deployments, spool.path)
        # results.json last: whoever sees it finds the other three already in place.
        for name in (ITEMS, LM_EVAL, REPORT, RESULTS):
            ctx.objects.put_output(job.evaluation_id, name, out_dir / name)
    return run, totals


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
