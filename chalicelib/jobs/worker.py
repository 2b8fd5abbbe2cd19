"""The evaluation queue's consumer (the `evaluation_worker` Lambda and the local worker): Powertools
batch processing, so a failed message is reported in `batchItemFailures` and redelivered alone.

A chunk message is handled at least once, its effect happens once: the chunk's results go to a
new S3 object, then one DynamoDB transaction records the chunk for its round and adds its counts
to the job, on the condition that the chunk is not yet recorded for this round and the job is
still running it. The window's next chunk is sent before that commit, so a recorded chunk never
owes a message: its redelivery only checks whether the round is complete and finalises it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.config.registry import Deployment
from chalicelib.config.settings import (
    MAX_RECEIVES,
    RETRY_DELAY_SECONDS,
    WORKER_TIMEOUT_SECONDS,
)
from chalicelib.errors import TunegateError
from chalicelib.evaluation.answers import Answer, ItemResult
from chalicelib.evaluation.cache import cache_key, cacheable
from chalicelib.evaluation.datasets import Item
from chalicelib.evaluation.judge import Judgement
from chalicelib.evaluation.judge_run import Judge
from chalicelib.evaluation.pacing import AdaptiveLimit
from chalicelib.evaluation.runner import ChunkOutcome, Evaluator, evaluate_chunk, prompt_for
from chalicelib.evaluation.totals import EvaluationTotals
from chalicelib.jobs.context import JobContext, get_job_context
from chalicelib.jobs.finalizer import finalize
from chalicelib.jobs.judging import job_judge
from chalicelib.jobs.models import ChunkRecord, JobMessage, JobRecord
from chalicelib.jobs.planner import handle_plan
from chalicelib.jobs.window import successor
from chalicelib.observability import logger
from chalicelib.serving.prompting import resolve_params
from chalicelib.serving.shadow import ShadowMessage, handle_shadow_body
from chalicelib.storage.codec import now_iso
from chalicelib.storage.jobs import ChunkAnswerCache, CommitOutcome
from chalicelib.tracing import annotate


class FinalizerBusy(RuntimeError):
    """Another finaliser holds the claim: this message is retried later."""


def handle_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """An SQS event (the raw Lambda dict) -> `{"batchItemFailures": [...]}`."""
    # One processor per event: it keeps per-batch state, and the local worker runs threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
    return dict(response)


def handle_record(record: SQSRecord) -> None:
    if ShadowMessage.matches(record.body):  # a copy of served traffic (serving/shadow.py)
        receives = int(record.attributes.approximate_receive_count or 1)
        try:
            handle_shadow_body(record.body, receives)
        except Exception:
            with contextlib.suppress(Exception):
                get_job_context().queue.retry_later(record.receipt_handle, retry_delay(receives))
            raise
        return
    try:
        message = JobMessage.parse(record.body)
    except ValueError:
        logger.warning("dropped a message that is not an evaluation job message")
        return
    logger.set_correlation_id(message.evaluation_id)  # every step of a job logs its id
    annotate("evaluation_id", message.evaluation_id)
    annotate("step", message.kind)
    ctx = get_job_context()
    try:
        dispatch(ctx, message)
    except Exception:
        receives = int(record.attributes.approximate_receive_count or 1)
        logger.exception(
            "evaluation step failed",
            extra={
                "evaluation_id": message.evaluation_id,
                "step": message.kind,
                "chunk": message.chunk,
                "receives": receives,
            },
        )
        if receives >= MAX_RECEIVES:  # its last delivery: the job must not wait forever
            ctx.store.fail(
                message.evaluation_id,
                {
                    "code": "internal_error",
                    "message": f"The evaluation's {message.kind} step failed on every attempt.",
                },
                now_iso(),
            )
        else:
            with contextlib.suppress(Exception):
                ctx.queue.retry_later(record.receipt_handle, retry_delay(receives))
        raise


def retry_delay(receives: int) -> int:
    """Seconds before a failed message comes back: 10, 20, 40, 80 (then the dead-letter queue)."""
    return min(RETRY_DELAY_SECONDS << max(receives - 1, 0), WORKER_TIMEOUT_SECONDS)


def dispatch(ctx: JobContext, message: JobMessage) -> None:
    if message.kind == "plan":
        job = handle_plan(ctx, message)
        if job is not None and job.status == "running" and job.all_chunks_done:
            finalize(ctx, job)  # a round with nothing to run
    elif message.kind == "chunk":
        run_chunk(ctx, message)
    else:
        finalize_cancelled(ctx, message)


def finalize_cancelled(ctx: JobContext, message: JobMessage) -> None:
    job = ctx.store.get(message.evaluation_id)
    if job is None or job.status != "cancelled" or job.outputs_round == job.round:
        return
    if not finalize(ctx, job):
        fresh = ctx.store.get(message.evaluation_id)
        if fresh is not None and fresh.outputs_round != fresh.round:
            raise FinalizerBusy(f"evaluation {job.evaluation_id}: a finaliser is still running")


def run_chunk(ctx: JobContext, message: JobMessage) -> None:
    assert message.chunk is not None
    chunk = message.chunk
    job, record = ctx.store.get_with_chunk(message.evaluation_id, chunk)
    if job is None or job.status != "running" or job.round != message.round:
        return  # cancelled, failed, or a message from an earlier round
    if record is None or record.round < job.round:
        cache = ctx.cache(job.evaluation_id)
        outcome = evaluate(ctx, job, chunk, record, cache)
        # This chunk's model calls are over: the window moves on before the (slower) writes.
        # A worker dying from here to the commit has its message redelivered, and the rerun
        # (answers from the cache) sends the successor again: a duplicate, never a gap.
        following = successor(job.scheduled(), chunk, job.chunks_in_flight)
        if following is not None:
            ctx.queue.send([JobMessage("chunk", job.evaluation_id, job.round, following)])
        result = store_chunk(ctx, job, chunk, outcome)
        logger.info(
            "evaluation chunk " + result,
            extra={"evaluation_id": job.evaluation_id, "chunk": chunk, "round": job.round},
        )
        if result == "stale":
            return
        try:
            cache.discard()
        except Exception:  # they expire anyway
            logger.warning("answer cache cleanup failed", exc_info=True)
    finalize_if_complete(ctx, job)


def store_chunk(
    ctx: JobContext, job: JobRecord, chunk: int, outcome: ChunkOutcome
) -> CommitOutcome:
    """Write the chunk's results to a new object, then commit the record that points at it.

    Each attempt writes its own object, so a losing attempt (another delivery committed first,
    or the round ended) cannot touch the winner's; it deletes its own, which nothing refers to."""
    key = ctx.objects.chunk_key(job.evaluation_id, chunk, job.round, uuid.uuid4().hex[:12])
    ctx.objects.put_chunk(key, outcome.results, outcome.totals)
    committed = ChunkRecord(
        chunk=chunk,
        round=job.round,
        count=len(outcome.results),
        errors=outcome.totals.n_items_with_errors,
        object_key=key,
        committed_at=now_iso(),
    )
    result = ctx.store.commit_chunk(job.evaluation_id, committed)
    if result != "committed":
        ctx.objects.discard(key)
    return result


def finalize_if_complete(ctx: JobContext, job: JobRecord) -> None:
    """Every delivery of a committed chunk checks: so a finaliser that died is run again."""
    fresh = ctx.store.get(job.evaluation_id)
    if (
        fresh is not None
        and fresh.status == "running"
        and fresh.round == job.round
        and fresh.all_chunks_done
    ):
        finalize(ctx, fresh)


def evaluate(
    ctx: JobContext,
    job: JobRecord,
    chunk: int,
    previous: ChunkRecord | None,
    cache: ChunkAnswerCache,
) -> ChunkOutcome:
    """The chunk's results: every item on a first run; on a retry round, the earlier results
    with only their `error` answers asked again."""
    deployments = ctx.deployments(job.models, job.versions)
    plan = job_judge(ctx, job, deployments)
    judge = None if plan is None else Judge(plan)
    try:
        if previous is None:
            items = ctx.objects.get_input(job.evaluation_id, chunk)
            cache.preload(answer_keys(items, deployments))
            return evaluate_chunk(
                items,
                deployments,
                concurrency=job.chunk_concurrency,
                cache=cache,
                limit=AdaptiveLimit(job.chunk_concurrency),
                samples=job.samples,
                seed=job.seed,
                judge=judge,
            )
        earlier, _ = ctx.objects.get_chunk(previous.object_key)
        return _rerun_errors(earlier, deployments, job, cache, judge)
    finally:
        cache.close()


def _rerun_errors(
    earlier: Sequence[ItemResult],
    deployments: Sequence[Deployment],
    job: JobRecord,
    cache: ChunkAnswerCache,
    judge: Judge | None = None,
) -> ChunkOutcome:
    """The earlier results with each `error` answer asked again (errors are never cached, so
    every one reaches the model; the other answers are kept as they were). With a judge, an
    item whose answers changed or whose judge call failed is judged again (its other verdicts
    come back from the cache)."""
    limit = AdaptiveLimit(job.chunk_concurrency)
    answers = [list(r.answers) for r in earlier]
    for j, deployment in enumerate(deployments):
        failed = [i for i, r in enumerate(earlier) if r.answers[j].status == "error"]
        if failed:
            fresh = _answers(
                [earlier[i] for i in failed], deployment, job, cache=cache, limit=limit
            )
            for i in failed:
                answers[i][j] = fresh[earlier[i].item.index]
    results = [
        ItemResult(r.item, tuple(a), _rejudged(r, tuple(a), judge, cache, limit))
        for r, a in zip(earlier, answers, strict=True)
    ]
    totals = EvaluationTotals(
        job.models, samples=job.samples, seed=job.seed, judged=judge is not None
    )
    for result in results:
        totals.add(result)
    return ChunkOutcome(results, totals)


def _rejudged(
    earlier: ItemResult,
    answers: tuple[Answer, ...],
    judge: Judge | None,
    cache: ChunkAnswerCache,
    limit: AdaptiveLimit,
) -> tuple[Judgement, ...]:
    if judge is None:
        return ()
    failed = any(j.status == "error" for j in earlier.judgements)
    if answers == earlier.answers and not failed:
        return earlier.judgements
    evaluator = Evaluator([], cache=cache, limit=limit, judge=judge)
    return evaluator.judge_item(earlier.item, answers)


def answer_keys(items: Sequence[Item], deployments: Sequence[Deployment]) -> list[str]:
    """The answer-cache keys the runner will look up for these items (cacheable ones only)."""
    keys = []
    for deployment in deployments:
        params = resolve_params(deployment.inference)
        if not cacheable(params):
            continue
        for item in items:
            try:
                keys.append(cache_key(deployment, prompt_for(deployment, item), params))
            except TunegateError:  # the runner records this item's error without a lookup
                continue
    return keys


def _answers(
    results: Sequence[ItemResult], deployment: Deployment, job: JobRecord, **options: Any
) -> dict[int, Answer]:
    outcome = evaluate_chunk(
        [r.item for r in results],
        [deployment],
        concurrency=job.chunk_concurrency,
        samples=0,
        seed=job.seed,
        **options,
    )
    return {r.item.index: r.answers[0] for r in outcome.results}
