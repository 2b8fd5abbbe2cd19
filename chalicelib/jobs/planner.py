"""The `plan` step: start a round. Round 0 validates the whole dataset before any model call (a bad
line fails the job, with line numbers) and snapshots it into chunk inputs; a retry round picks
the chunks that have error items and takes their counts back. Then the first window is sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from chalicelib.errors import NotFound
from chalicelib.evaluation.datasets import DatasetError, Item
from chalicelib.evaluation.scoring import reference_check
from chalicelib.evaluation.sources import SourceError, open_dataset
from chalicelib.jobs.context import JobContext
from chalicelib.jobs.models import MAX_STORED_PROBLEMS, JobMessage, JobRecord
from chalicelib.jobs.parallel import ordered_map
from chalicelib.jobs.window import chunk_count, first_wave
from chalicelib.observability import logger
from chalicelib.storage.codec import now_iso


def handle_plan(ctx: JobContext, message: JobMessage) -> JobRecord | None:
    """Idempotent: a repeated plan message only sends the first window again."""
    job = ctx.store.get(message.evaluation_id)
    if job is None or job.round != message.round:
        return None
    if job.status == "queued":
        if job.round == 0:
            _plan_first_round(ctx, job)
        else:
            _plan_retry_round(ctx, job)
        job = ctx.store.get(message.evaluation_id)
    if job is None or job.status != "running" or job.planned_round != job.round:
        return job
    if job.wave_round == job.round:
        return job
    wave = first_wave(job.scheduled(), job.chunks_in_flight)
    ctx.queue.send([JobMessage("chunk", job.evaluation_id, job.round, n) for n in wave])
    ctx.store.transition(
        job.evaluation_id, expect="running", round=job.round, sets={"wave_round": job.round}
    )
    logger.info(
        "evaluation round planned",
        extra={"evaluation_id": job.evaluation_id, "round": job.round, "chunks": job.n_scheduled},
    )
    return job


def _fail(ctx: JobContext, job: JobRecord, error: dict[str, object]) -> None:
    ctx.store.transition(
        job.evaluation_id,
        expect="queued",
        round=job.round,
        sets={"status": "failed", "error": error, "finished_at": now_iso()},
    )
    logger.info(
        "evaluation failed before any model call",
        extra={"evaluation_id": job.evaluation_id, "error_code": error.get("code")},
    )


def _plan_first_round(ctx: JobContext, job: JobRecord) -> None:
    try:
        deployments = ctx.deployments(job.models, job.versions)
    except NotFound as exc:
        _fail(ctx, job, {"code": "not_found", "message": exc.message})
        return
    dataset = open_dataset(
        job.dataset,
        check=reference_check(deployments),
        skip_invalid_lines=job.skip_invalid_lines,
    )
    try:
        summary = dataset.validate()
    except DatasetError as exc:
        noun = "problem" if exc.n_problems == 1 else "problems"
        _fail(
            ctx,
            job,
            {
                "code": "invalid_dataset",
                "message": f"The dataset has {exc.n_problems} {noun}; nothing was evaluated.",
                "details": exc.details()[:MAX_STORED_PROBLEMS],
                "n_problems": exc.n_problems,
            },
        )
        return
    except SourceError as exc:
        _fail(ctx, job, {"code": "dataset_unreadable", "message": str(exc)})
        return
    total = _write_inputs(ctx, job, dataset.items(job.limit))
    ctx.store.transition(
        job.evaluation_id,
        expect="queued",
        round=0,
        sets={
            "status": "running",
            "total": total,
            "n_chunks": chunk_count(total, job.chunk_size),
            "n_scheduled": chunk_count(total, job.chunk_size),
            "chunks_done": 0,
            "planned_round": 0,
            "n_dataset_items": summary.n_items,
            "skipped_lines": summary.skipped_lines,
            "started_at": now_iso(),
        },
    )


def _write_inputs(ctx: JobContext, job: JobRecord, items: Iterable[Item]) -> int:
    """Chunk inputs as a snapshot of the dataset, several written at a time; returns the
    number of items."""

    def write(chunk: tuple[int, list[Item]]) -> int:
        number, batch = chunk
        ctx.objects.put_input(job.evaluation_id, number, batch)
        return len(batch)

    return sum(ordered_map(write, enumerate(batched(items, job.chunk_size))))


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """`items` in lists of `size` (the last one shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _plan_retry_round(ctx: JobContext, job: JobRecord) -> None:
    """Re-run the chunks holding error items; their counts leave the progress until re-done.

    No chunk can commit meanwhile (the job is queued), so the counts taken back are exactly
    the ones those chunks added."""
    rerun = [c for c in ctx.store.chunks(job.evaluation_id) if c.errors > 0]
    ctx.store.transition(
        job.evaluation_id,
        expect="queued",
        round=job.round,
        sets={
            "status": "running",
            "schedule": [c.chunk for c in rerun],
            "n_scheduled": len(rerun),
            "chunks_done": 0,
            "planned_round": job.round,
        },
        adds={"done": -sum(c.count for c in rerun), "errors": -sum(c.errors for c in rerun)},
    )
