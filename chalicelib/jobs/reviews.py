"""Human review of an evaluation (CONTRACT section 10): reviewers rate answers (rubric mode) or
pick the better of a pair (pairwise mode); one rating per item, model or pair, and reviewer
(`storage/reviews.py`); the judge's agreement with them (`evaluation/agreement.py`) joins the
evaluation's view, results and report.

The mode is the judge's (no judge: rubric, each answer rated 1-5; the ratings are kept, with no
judge to agree with). The reviewer is the key's owner (its hash prefix, as
evaluations record their creator) plus an optional display name; whoever may see the evaluation
(its creator, or an `admin` key) may review it and read every reviewer's ratings."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.api.models import RequestBody
from chalicelib.auth.scopes import KeyEntry
from chalicelib.errors import InvalidRequest
from chalicelib.evaluation.agreement import human_review_summary, judge_labels
from chalicelib.evaluation.answers import ItemResult
from chalicelib.evaluation.outputs import item_records
from chalicelib.jobs.context import JobContext
from chalicelib.jobs.models import JobRecord
from chalicelib.jobs.objects import MissingObject
from chalicelib.storage.codec import now_iso
from chalicelib.storage.reviews import DynamoReviewStore, ReviewRecord, ReviewStore

Choice = Literal["A", "B", "tie"]
_VERDICTS: dict[str, str] = {"A": "first", "B": "second", "tie": "tie"}


class ReviewRequest(RequestBody):
    """One call. Rubric: `models` is the one model rated, `rating` 1-5. Pairwise: `models` is
    the pair in the order the page showed it (A, B), `choice` A, B or tie; the stored verdict is
    in the evaluation's model order and the order shown is kept (`shown_first`)."""

    index: int = Field(ge=0, le=10_000_000)
    models: list[str] = Field(min_length=1, max_length=2)
    rating: int | None = Field(default=None, ge=1, le=5)
    choice: Choice | None = None
    reviewer_name: str | None = Field(default=None, min_length=1, max_length=80)


class ReviewView(BaseModel):
    """A stored review (the answer to POST: 201 the first time, 200 for a re-rating)."""

    evaluation_id: str
    index: int
    models: list[str]
    reviewer: str
    reviewer_name: str | None = None
    rating: int | None = None
    verdict: Literal["first", "second", "tie"] | None = None
    shown_first: str | None = None
    #: The judge's call on the same item and subject (a 1-5 score, or first / second / tie).
    judge: int | str | None = None
    revision: int
    created_at: str
    updated_at: str


class ReviewList(BaseModel):
    """Every reviewer's calls on an evaluation, what there is to review, the agreement."""

    evaluation_id: str
    mode: Literal["rubric", "pairwise"]
    models: list[str]
    subjects: list[list[str]]
    reviewer: str
    reviews: list[ReviewView]
    human_review: dict[str, Any]


@lru_cache(maxsize=4)
def _dynamo_store(table: str) -> ReviewStore:
    return DynamoReviewStore(table)


def review_store() -> ReviewStore:
    """The process's review store: the evaluations table (beside the jobs it rates)."""
    from chalicelib.runtime import get_runtime

    return _dynamo_store(get_runtime().settings.evaluations_table)


def review_mode(job: JobRecord) -> str:
    return str(job.judge["mode"]) if job.judge else "rubric"


def subjects(job: JobRecord) -> list[list[str]]:
    """What a reviewer rates per item: each model (rubric) or each pair in model order."""
    if review_mode(job) == "rubric":
        return [[model] for model in job.models]
    return [[a, b] for a, b in combinations(job.models, 2)]


def _bad(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(
        "The review is not valid for this evaluation.",
        details=[{"field": field, "reason": reason}],
    )


def to_record(job: JobRecord, request: ReviewRequest, reviewer: str) -> ReviewRecord:
    """The stored record of a valid request; InvalidRequest names the field otherwise."""
    mode = review_mode(job)
    if job.total is not None and request.index >= job.total:
        raise _bad("index", f"the evaluation has items 0 to {job.total - 1}")
    unknown = [m for m in request.models if m not in job.models]
    if unknown:
        raise _bad("models", f"not a model of this evaluation: {unknown[0]!r}")
    base = ReviewRecord(
        job.evaluation_id,
        request.index,
        tuple(request.models),
        reviewer,
        now_iso(),
        reviewer_name=request.reviewer_name,
    )
    if mode == "rubric":
        if len(request.models) != 1:
            raise _bad("models", "rubric review rates one model's answer at a time")
        if request.rating is None or request.choice is not None:
            raise _bad("rating", "rubric review needs a rating 1-5 and no choice")
        return replace(base, rating=request.rating)
    if len(request.models) != 2 or request.models[0] == request.models[1]:
        raise _bad("models", "pairwise review compares two different models (as shown: A, B)")
    if request.choice is None or request.rating is not None:
        raise _bad("choice", "pairwise review needs a choice A, B or tie and no rating")
    shown_a = request.models[0]
    ordered = tuple(sorted(request.models, key=job.models.index))
    verdict = _VERDICTS[request.choice]
    if ordered[0] != shown_a and verdict != "tie":  # shown swapped: A is the second model
        verdict = "second" if verdict == "first" else "first"
    return replace(base, models=ordered, verdict=verdict, shown_first=shown_a)


def submit_review(
    ctx: JobContext,
    job: JobRecord,
    request: ReviewRequest,
    caller: KeyEntry,
    store: ReviewStore | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Store the caller's call (a re-rating replaces it) with the judge's call on the same item
    and subject beside it: (created, the record as stored)."""
    from chalicelib.jobs.service import require_results

    require_results(job)  # nothing to review before the answers are written
    record = to_record(job, request, caller.owner)
    result = _item_result(ctx, job, record.index)
    answered = {a.model for a in result.answers if a.status != "error"}
    missing = [m for m in record.models if m not in answered]
    if missing:
        raise _bad("index", f"item {record.index} has no answer from {missing[0]!r} to review")
    labels = judge_labels(item_records(result), review_mode(job)) if job.judge else {}
    record = replace(record, judge=labels.get((record.index, record.subject)))
    created, stored = (store or review_store()).upsert(record)
    return created, stored.to_json()


def _item_result(ctx: JobContext, job: JobRecord, index: int) -> ItemResult:
    """The item's answers and judge calls from its committed chunk (chunks hold consecutive
    items, `chunk_size` each): one small read, never the whole items.jsonl."""
    chunk = ctx.store.get_chunk(job.evaluation_id, index // job.chunk_size)
    results: list[ItemResult] = []
    if chunk is not None:
        try:
            results, _ = ctx.objects.get_chunk(chunk.object_key)
        except MissingObject:  # past the bucket's retention
            results = []
    found = next((r for r in results if r.item.index == index), None)
    if found is None:
        raise _bad("index", f"the evaluation has no item {index}")
    return found


def list_reviews(
    job: JobRecord, caller: KeyEntry, store: ReviewStore | None = None
) -> dict[str, Any]:
    """Every reviewer's calls, what there is to review and the judge's agreement so far."""
    reviews = [r.to_json() for r in (store or review_store()).for_evaluation(job.evaluation_id)]
    return {
        "evaluation_id": job.evaluation_id,
        "mode": review_mode(job),
        "models": job.models,
        "subjects": subjects(job),
        "reviewer": caller.owner,
        "reviews": reviews,
        "human_review": human_review_summary(review_mode(job), reviews),
    }


def human_review(job: JobRecord, store: ReviewStore | None = None) -> dict[str, Any] | None:
    """`human_review` of a finished evaluation; None before its results or any review (one
    Query: each review carries the judge's call it is compared with)."""
    if not job.results_ready:
        return None
    reviews = [r.to_json() for r in (store or review_store()).for_evaluation(job.evaluation_id)]
    return human_review_summary(review_mode(job), reviews) if reviews else None
