"""The job steps' decisions on the in-memory job store, without the local stack. The context
holds only a store: a step that reached S3 or SQS here would fail loudly (AttributeError), so
each case also shows that the step decided from the job record alone."""

from __future__ import annotations

import uuid
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.jobs import service
from chalicelib.jobs.finalizer import finalize
from chalicelib.jobs.models import InvalidState, JobMessage, JobRecord
from chalicelib.jobs.planner import handle_plan
from chalicelib.storage.memory_jobs import MemoryJobStore
from tests.jobs.conftest import job_record


def context_with(status: str = "running", **fields: Any) -> tuple[Any, JobRecord]:
    store = MemoryJobStore()
    job = job_record(status=status, **fields)
    store.create(job)
    return SimpleNamespace(store=store), job


def test_a_finaliser_stands_down_while_another_holds_the_claim() -> None:
    ctx, job = context_with()
    assert ctx.store.claim_finalizer(
        job.evaluation_id, status="running", round=0, token="other", lease_seconds=900
    )
    assert finalize(ctx, job) is False
    assert ctx.store.get(job.evaluation_id).finalizer == "other"


def test_a_round_with_outputs_is_not_finalised_again() -> None:
    ctx, job = context_with(status="succeeded", outputs_round=0)
    assert finalize(ctx, job) is False


def test_a_finaliser_that_fails_releases_its_claim() -> None:
    ctx, job = context_with()
    with pytest.raises(AttributeError):  # writing the outputs needs S3: not in this context
        finalize(ctx, job)
    stored = ctx.store.get(job.evaluation_id)
    assert (stored.status, stored.finalizer, stored.finalizer_until) == ("running", None, None)
    assert ctx.store.claim_finalizer(
        job.evaluation_id, status="running", round=0, token="next", lease_seconds=900
    )


def test_a_plan_message_for_another_round_or_a_sent_wave_does_nothing() -> None:
    ctx, job = context_with(planned_round=0, wave_round=0)
    assert handle_plan(ctx, JobMessage("plan", job.evaluation_id, 1)) is None
    assert handle_plan(ctx, JobMessage("plan", uuid.uuid4().hex, 0)) is None
    again = handle_plan(ctx, JobMessage("plan", job.evaluation_id, 0))  # a duplicate delivery
    assert again == ctx.store.get(job.evaluation_id) and again.wave_round == 0


def test_only_an_active_job_is_cancelled_only_a_job_with_errors_is_retried() -> None:
    ctx, job = context_with(status="succeeded", outputs_round=0)
    with pytest.raises(InvalidState, match="already succeeded"):
        service.cancel(ctx, job)
    with pytest.raises(InvalidState, match="completed with errors"):
        service.retry(ctx, job)
    # the caller's copy is stale: the stored job moved on, so the retry changes nothing
    stale = replace(job, status="completed_with_errors")
    with pytest.raises(InvalidState, match="changed meanwhile"):
        service.retry(ctx, stale)
    assert ctx.store.get(job.evaluation_id) == job
