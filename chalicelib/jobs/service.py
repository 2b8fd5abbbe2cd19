"""What the evaluation routes do: submit, read, page items, fetch outputs, retry, cancel. Each
function takes the parsed request and returns plain values; errors are TunegateErrors."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

from chalicelib.api.payload import RESPONSE_BUDGET, json_cost
from chalicelib.auth.scopes import KeyEntry
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.evaluation.clipping import CLIP_STEPS, clip_item, fit_samples
from chalicelib.evaluation.datasets import Dataset, DatasetError
from chalicelib.evaluation.outputs import LM_EVAL, REPORT, RESULTS, item_records
from chalicelib.evaluation.review_page import with_human_review
from chalicelib.evaluation.scoring import reference_check
from chalicelib.jobs.context import JobContext
from chalicelib.jobs.judging import check_judge
from chalicelib.jobs.models import (
    EvaluationRequest,
    InvalidState,
    ItemsQuery,
    JobMessage,
    JobRecord,
    ResultsNotReady,
)
from chalicelib.jobs.objects import MissingObject
from chalicelib.jobs.reviews import human_review
from chalicelib.storage.codec import now_iso

_ID = re.compile(r"^[0-9a-f]{32}$")
#: Chunk objects one items page may read, so a rare status cannot make one request unbounded.
MAX_CHUNKS_PER_PAGE = 20
#: The status view is polled: its samples are clipped to this, the rest is in the report.
STATUS_SAMPLES_BUDGET = 1024 * 1024


def location(evaluation_id: str) -> str:
    return f"/v1/evaluations/{evaluation_id}"


def submit(ctx: JobContext, request: EvaluationRequest, owner: str | None = None) -> JobRecord:
    """Validate (models, then inline records, before anything is stored), store, queue a plan.

    An inline dataset is written just before its job record and deleted again when that write
    fails, so a refused attempt leaves no object behind (a crash in between leaves one to the
    bucket's retention rule)."""
    # Pinned first, then read as pinned: the models and the judge answer with the versions the
    # job records, whatever routing changes while it runs.
    versions = ctx.versions(request.models)  # unknown names: 404 naming `models.<i>`
    deployments = ctx.deployments(request.models, versions)
    if check_judge(ctx, request.judge, deployments) is not None and request.judge is not None:
        versions |= ctx.versions([request.judge.model])
    evaluation_id = uuid.uuid4().hex
    spec = request.dataset
    if spec.records is not None:
        dataset = Dataset.from_records(
            "dataset.records",
            spec.records,
            check=reference_check(deployments),
            skip_invalid_lines=request.skip_invalid_lines,
        )
        try:
            dataset.validate()
        except DatasetError as exc:
            raise InvalidRequest(
                f"The dataset has {exc.n_problems} invalid "
                f"{'record' if exc.n_problems == 1 else 'records'}; nothing was evaluated.",
                details=[_record_problem(line, reason) for line, reason in exc.problems],
            ) from None
        source = ctx.objects.put_dataset(evaluation_id, spec.records)
    else:
        assert spec.s3_uri is not None
        source = _allowed_dataset(ctx, spec.s3_uri)
    settings = ctx.settings
    job = JobRecord(
        evaluation_id=evaluation_id,
        status="queued",
        models=list(request.models),
        dataset=source,
        dataset_inline=spec.records is not None,
        created_at=now_iso(),
        chunk_size=settings.chunk_size,
        chunks_in_flight=settings.chunks_in_flight,
        chunk_concurrency=settings.chunk_concurrency,
        limit=request.limit,
        seed=request.seed,
        samples=request.samples,
        skip_invalid_lines=request.skip_invalid_lines,
        owner=owner,
        versions=versions,
        judge=None if request.judge is None else request.judge.model_dump(exclude_none=True),
    )
    try:
        ctx.store.create(job)
    except Exception:  # no job refers to the inline dataset: take it back
        if job.dataset_inline:
            ctx.objects.discard(ctx.objects.dataset_key(evaluation_id))
        raise
    _send_or_fail(ctx, job, JobMessage("plan", evaluation_id, 0))
    return job


def _allowed_dataset(ctx: JobContext, uri: str) -> str:
    """Only configured dataset prefixes: the worker's role can read more than a client may."""
    prefixes = ctx.dataset_prefixes()
    reason = None
    if not uri.startswith(prefixes):
        reason = f"must start with {' or '.join(prefixes)}"
    elif {".", ".."} & set(uri.removeprefix("s3://").split("/")):
        reason = "must not hold . or .. segments (a client or proxy may resolve them)"
    if reason is not None:
        raise InvalidRequest(
            "The dataset is not in a location this service reads datasets from.",
            details=[{"field": "dataset.s3_uri", "reason": reason}],
        )
    return uri


def _record_problem(line: int, reason: str) -> dict[str, Any]:
    if line == 0:
        return {"field": "dataset.records", "line": 0, "reason": reason}
    return {"field": f"dataset.records.{line - 1}", "line": line, "reason": reason}


def _send_or_fail(ctx: JobContext, job: JobRecord, message: JobMessage) -> None:
    try:
        ctx.queue.send([message])
    except Exception:
        ctx.store.fail(
            job.evaluation_id,
            {"code": "service_unavailable", "message": "The job could not be queued."},
            now_iso(),
        )
        raise


def get_job(ctx: JobContext, evaluation_id: str, caller: KeyEntry) -> JobRecord:
    """The job, if `caller` may see it: its creator, or a key with `admin`. Anyone else gets
    the same 404 as for an id that does not exist, so ids cannot be probed."""
    job = ctx.store.get(evaluation_id) if _ID.match(evaluation_id) else None
    if job is None or not (caller.allows("admin") or job.owner == caller.owner):
        raise NotFound(f"No evaluation with id {evaluation_id!r}.")
    return job


def _reread(ctx: JobContext, evaluation_id: str) -> JobRecord:
    """A job the caller was already allowed to see, read again after a change."""
    job = ctx.store.get(evaluation_id)
    if job is None:
        raise NotFound(f"No evaluation with id {evaluation_id!r}.")
    return job


def view(ctx: JobContext, job: JobRecord) -> dict[str, Any]:
    """The job as the API shows it; results, comparison and samples once they are written."""
    results: dict[str, Any] = {}
    if job.results_ready:
        results = json.loads(_output(ctx, job, RESULTS))
    samples = results.get("samples")
    base = location(job.evaluation_id)
    body: dict[str, Any] = {
        "evaluation_id": job.evaluation_id,
        "status": job.status,
        "models": job.models,
        "versions": job.versions,
        "dataset": {"s3_uri": job.dataset, "inline": job.dataset_inline},
        "progress": {"total": job.total, "done": job.done, "errors": job.errors},
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "results": results.get("results"),
        "comparison": results.get("comparison"),
        "samples": None if samples is None else fit_samples(samples, STATUS_SAMPLES_BUDGET),
        "links": {
            "self": base,
            "items": f"{base}/items",
            "report": f"{base}/report",
            "results": f"{base}/results.json",
            "lm_eval": f"{base}/results.json?format=lm-eval",
        },
    }
    if results.get("judge") is not None:  # CONTRACT section 10
        body["judge"] = results["judge"]
    if job.error:
        body["error"] = job.error
    review = human_review(job)
    if review is not None:  # CONTRACT section 10: the judge's agreement with human reviewers
        body["human_review"] = review
    return body


def require_results(job: JobRecord) -> None:
    if job.results_ready:
        return
    if job.status == "failed":
        raise InvalidState(
            "The evaluation failed; it has no results.",
            details=[{"field": "status", "reason": "failed"}],
        )
    raise ResultsNotReady(
        f"The evaluation is {job.status}; its results are not written yet.", retry_after=5
    )


def report(ctx: JobContext, job: JobRecord) -> str:
    """The stored report, with the human review section as of now (reviews come later)."""
    require_results(job)
    return with_human_review(_output(ctx, job, REPORT).decode(), human_review(job))


def results_document(ctx: JobContext, job: JobRecord, lm_eval: bool) -> Any:
    """The stored document; results.json with its samples clipped to what fits one response
    (the shape is unchanged; the report and items.jsonl keep the longer texts)."""
    require_results(job)
    document = json.loads(_output(ctx, job, LM_EVAL if lm_eval else RESULTS))
    if not lm_eval and isinstance(document.get("samples"), list):
        rest = json_cost({**document, "samples": []})
        document["samples"] = fit_samples(document["samples"], RESPONSE_BUDGET - rest)
    review = None if lm_eval else human_review(job)
    if review is not None:
        document["human_review"] = review
    return document


def _output(ctx: JobContext, job: JobRecord, name: str) -> bytes:
    try:
        return ctx.objects.get_output(job.evaluation_id, name)
    except MissingObject:  # past the bucket's retention
        raise NotFound(
            f"The files of evaluation {job.evaluation_id!r} have expired.",
            details=[{"field": "evaluation_id", "reason": "results expired"}],
        ) from None


def items_page(ctx: JobContext, job: JobRecord, query: ItemsQuery) -> dict[str, Any]:
    """Item records (one per item and model) of the committed chunks, in item order, filtered by
    status; `next_cursor` is null after the last page. A page may hold fewer than `limit`
    records: it reads at most MAX_CHUNKS_PER_PAGE chunks and stops before RESPONSE_BUDGET bytes
    (a record too long alone is clipped). Follow the cursor."""
    start_chunk, start_offset = _decode_cursor(query.cursor)
    page: list[dict[str, Any]] = []
    size = json_cost({"items": [], "next_cursor": "c" * 40})
    cursor: tuple[int, int] | None = None
    reads = 0
    chunks = [c for c in ctx.store.chunks(job.evaluation_id) if c.chunk >= start_chunk]
    for record in chunks:
        if reads == MAX_CHUNKS_PER_PAGE:
            cursor = (record.chunk, 0)
            break
        reads += 1
        offset = start_offset if record.chunk == start_chunk else 0
        for position, item in _records_from(ctx, record.object_key, offset):
            if query.status is not None and item["status"] != query.status:
                continue
            cost = json_cost(item) + 1
            if page and (len(page) == query.limit or size + cost > RESPONSE_BUDGET):
                cursor = (record.chunk, position)
                break
            if cost > RESPONSE_BUDGET - size:
                item, cost = _clipped_to_fit(item, RESPONSE_BUDGET - size)
            page.append(item)
            size += cost
        if cursor is not None:
            break
    return {"items": page, "next_cursor": _encode_cursor(cursor)}


def _clipped_to_fit(item: dict[str, Any], budget: int) -> tuple[dict[str, Any], int]:
    for limit in CLIP_STEPS:
        clipped = clip_item(item, limit)
        cost = json_cost(clipped) + 1
        if cost <= budget:
            break
    return clipped, cost


def _records_from(ctx: JobContext, key: str, offset: int) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        results, _ = ctx.objects.get_chunk(key)
    except MissingObject:
        return
    records = [record for result in results for record in item_records(result)]
    for position in range(offset, len(records)):
        yield position, records[position]


def _encode_cursor(cursor: tuple[int, int] | None) -> str | None:
    if cursor is None:
        return None
    raw = json.dumps({"c": cursor[0], "o": cursor[1]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        chunk, offset = data["c"], data["o"]
        if isinstance(chunk, int) and isinstance(offset, int) and chunk >= 0 and offset >= 0:
            return chunk, offset
    except (binascii.Error, ValueError, TypeError, KeyError):
        pass
    raise InvalidRequest(
        "The cursor is not valid.",
        details=[{"field": "cursor", "reason": "use next_cursor from a previous page"}],
    )


def retry(ctx: JobContext, job: JobRecord) -> JobRecord:
    """Re-run the `error` items of a job that completed with errors (a new round)."""
    if job.status != "completed_with_errors":
        raise InvalidState(
            f"Only an evaluation that completed with errors can be retried; this one is "
            f"{job.status}.",
            details=[{"field": "status", "reason": job.status}],
        )
    next_round = job.round + 1
    moved = ctx.store.transition(
        job.evaluation_id,
        expect="completed_with_errors",
        round=job.round,
        sets={"status": "queued", "round": next_round, "finished_at": None},
    )
    if not moved:
        raise InvalidState("The evaluation changed meanwhile; read it again.")
    try:
        ctx.queue.send([JobMessage("plan", job.evaluation_id, next_round)])
    except Exception:  # nothing was planned: put the job back as it was
        ctx.store.transition(
            job.evaluation_id,
            expect="queued",
            round=next_round,
            sets={"status": job.status, "round": job.round, "finished_at": job.finished_at},
        )
        raise
    return _reread(ctx, job.evaluation_id)


def cancel(ctx: JobContext, job: JobRecord) -> JobRecord:
    """Stop a queued or running job: no chunk commits after this; what was committed is kept
    and written out by a finaliser."""
    cancelled = ctx.store.cancel(job.evaluation_id, now_iso())
    if cancelled is None:
        job = _reread(ctx, job.evaluation_id)
        if job.status == "cancelled" and job.outputs_round != job.round:
            cancelled = job  # cancelled, outputs not written: send the finaliser again
    if cancelled is None:
        raise InvalidState(
            f"The evaluation is already {job.status}; only a queued or running one can be "
            "cancelled.",
            details=[{"field": "status", "reason": job.status}],
        )
    ctx.queue.send([JobMessage("finalize", job.evaluation_id, cancelled.round)])
    return cancelled
