"""The job store's conditions, in memory and on DynamoDB (moto server): a chunk commits once per
round, nothing commits after a cancel or for another round, one finaliser at a time."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.jobs.models import ChunkRecord, JobRecord


@pytest.fixture()
def store(jobs: Any) -> Any:
    return jobs


def running_job(store: Any, n_chunks: int = 3) -> str:
    evaluation_id = uuid.uuid4().hex
    store.create(
        JobRecord(
            evaluation_id=evaluation_id,
            status="running",
            models=["m"],
            dataset="s3://b/k",
            created_at="2026-01-01T00:00:00+00:00",
            chunk_size=10,
            chunks_in_flight=1,
            chunk_concurrency=1,
            total=10 * n_chunks,
            n_chunks=n_chunks,
            n_scheduled=n_chunks,
            planned_round=0,
        )
    )
    return evaluation_id


def chunk(n: int, errors: int = 0, round: int = 0) -> ChunkRecord:
    return ChunkRecord(n, round, 10, errors, f"key-{uuid.uuid4().hex}", "2026-01-01T00:00:00")


def test_a_chunk_counts_once_however_often_it_is_committed(store: Any) -> None:
    evaluation_id = running_job(store)
    assert store.commit_chunk(evaluation_id, chunk(0, errors=2)) == "committed"
    assert store.commit_chunk(evaluation_id, chunk(0, errors=1)) == "duplicate"
    # Sequential on purpose: moto applies a transaction as check-then-write without a lock and
    # restores a whole-table snapshot when one fails, so racing transactions on moto prove
    # nothing about DynamoDB (which serialises them or cancels one with TransactionConflict).
    outcomes = [store.commit_chunk(evaluation_id, chunk(1)) for _ in range(4)]
    assert outcomes == ["committed", "duplicate", "duplicate", "duplicate"]
    job = store.get(evaluation_id)
    assert (job.done, job.errors, job.chunks_done) == (20, 2, 2)
    assert store.get_chunk(evaluation_id, 0).errors == 2  # the first commit's record stays
    assert [c.chunk for c in store.chunks(evaluation_id)] == [0, 1]


def test_nothing_commits_after_a_cancel_or_for_another_round(store: Any) -> None:
    evaluation_id = running_job(store)
    assert store.commit_chunk(evaluation_id, chunk(0, round=1)) == "stale"
    assert store.cancel(evaluation_id, "2026-01-01T00:00:01").status == "cancelled"
    assert store.commit_chunk(evaluation_id, chunk(1)) == "stale"
    assert store.cancel(evaluation_id, "2026-01-01T00:00:02") is None
    job = store.get(evaluation_id)
    assert (job.done, job.chunks_done, store.chunks(evaluation_id)) == (0, 0, [])


def test_a_later_round_recommits_a_chunk_once(store: Any) -> None:
    evaluation_id = running_job(store, n_chunks=1)
    assert store.commit_chunk(evaluation_id, chunk(0, errors=3)) == "committed"
    assert store.transition(
        evaluation_id,
        expect="running",
        round=0,
        sets={"round": 1, "chunks_done": 0},
        adds={"done": -10, "errors": -3},
    )
    assert store.commit_chunk(evaluation_id, chunk(0, errors=1, round=1)) == "committed"
    assert store.commit_chunk(evaluation_id, chunk(0, round=1)) == "duplicate"
    job = store.get(evaluation_id)
    assert (job.done, job.errors, job.chunks_done) == (10, 1, 1)


def test_one_finaliser_at_a_time(store: Any) -> None:
    evaluation_id = running_job(store)
    claim: dict[str, Any] = {"status": "running", "round": 0, "lease_seconds": 900}
    claims = [store.claim_finalizer(evaluation_id, token=f"t{i}", **claim) for i in range(3)]
    assert claims == [True, False, False]  # the lease is held
    winner = f"t{claims.index(True)}"
    loser = "t-other"
    assert not store.finish(
        evaluation_id, status="running", new_status="succeeded", round=0, token=loser, sets={}
    )
    assert store.finish(
        evaluation_id, status="running", new_status="succeeded", round=0, token=winner, sets={}
    )
    job = store.get(evaluation_id)
    assert (job.status, job.outputs_round, job.finalizer) == ("succeeded", 0, None)
    assert not store.claim_finalizer(evaluation_id, token="late", **claim)
