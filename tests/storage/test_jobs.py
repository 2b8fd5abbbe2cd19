"""The job store's conditions, in memory and on DynamoDB (moto server): a chunk commits once per
round, nothing commits after a cancel or for another round, one finaliser at a time."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.jobs.models import ChunkRecord
from tests.jobs.conftest import job_record, planned


@pytest.fixture()
def store(jobs: Any) -> Any:
    return jobs


def running_job(store: Any, n_chunks: int = 3) -> str:
    job = job_record(**planned(n_chunks))
    store.create(job)
    return str(job.evaluation_id)


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


def test_a_job_is_created_once(store: Any) -> None:
    from chalicelib.storage.dynamo import AlreadyExists

    evaluation_id = running_job(store)
    job = store.get(evaluation_id)
    with pytest.raises(AlreadyExists):
        store.create(job)
    assert store.get(uuid.uuid4().hex) is None
    assert store.get_chunk(evaluation_id, 0) is None


def test_a_transition_needs_the_status_and_round(store: Any) -> None:
    evaluation_id = running_job(store)
    assert not store.transition(evaluation_id, expect="queued", round=0, sets={"total": 1})
    assert not store.transition(evaluation_id, expect="running", round=1, sets={"total": 1})
    assert store.transition(
        evaluation_id,
        expect=("queued", "running"),
        round=0,
        sets={"schedule": (3, 4), "started_at": "t", "n_scheduled": None},
        adds={"done": 5},
        removes=("total",),
    )
    job = store.get(evaluation_id)
    assert (job.schedule, job.started_at, job.n_scheduled, job.total, job.done) == (
        [3, 4],
        "t",
        None,
        None,
        5,
    )
    assert not store.transition(uuid.uuid4().hex, expect="running", round=0, sets={"total": 1})


def test_fail_only_an_active_job(store: Any) -> None:
    evaluation_id = running_job(store)
    error = {"code": "model_error", "message": "gave up", "details": [{"n": 1}]}
    assert store.fail(evaluation_id, error, "2026-01-01T00:00:03")
    assert not store.fail(evaluation_id, error, "2026-01-01T00:00:04")
    job = store.get(evaluation_id)
    assert (job.status, job.error, job.finished_at) == ("failed", error, "2026-01-01T00:00:03")
    assert store.cancel(evaluation_id, "2026-01-01T00:00:05") is None


def test_a_released_or_expired_claim_can_be_taken(store: Any) -> None:
    evaluation_id = running_job(store)
    claim: dict[str, Any] = {"status": "running", "round": 0}
    assert store.claim_finalizer(evaluation_id, token="a", lease_seconds=900, **claim)
    store.release_finalizer(evaluation_id, "not-a")  # someone else's release changes nothing
    assert not store.claim_finalizer(evaluation_id, token="b", lease_seconds=900, **claim)
    store.release_finalizer(evaluation_id, "a")
    assert store.get(evaluation_id).finalizer is None
    assert store.claim_finalizer(evaluation_id, token="b", lease_seconds=-1, **claim)
    # b's lease ended a second ago: c takes over, and b can no longer finish
    assert store.claim_finalizer(evaluation_id, token="c", lease_seconds=900, **claim)
    finish: dict[str, Any] = {"status": "running", "new_status": "failed", "round": 0}
    assert not store.finish(evaluation_id, token="b", sets={}, **finish)
    assert store.finish(evaluation_id, token="c", sets={"finished_at": "t"}, **finish)
    job = store.get(evaluation_id)
    assert (job.status, job.finished_at, job.finalizer_until) == ("failed", "t", None)


def test_the_answer_cache_survives_its_chunk_until_discarded(store: Any) -> None:
    from chalicelib.evaluation.cache import CachedAnswer

    evaluation_id = running_job(store)
    first = store.answer_cache(evaluation_id, 3600)
    first.put("k1", CachedAnswer("positive", 3, 1, 12.5))
    first.put("k2", CachedAnswer("negative"))
    first.close()
    rerun = store.answer_cache(evaluation_id, 3600)  # a rerun of the chunk, after a crash
    assert rerun.preload(["k1", "k2", "k3"]) == 2
    assert rerun.get("k1") == CachedAnswer("positive", 3, 1, 12.5)
    assert rerun.get("k3") is None
    assert store.answer_cache(uuid.uuid4().hex, 3600).preload(["k1"]) == 0  # per job
    rerun.discard()
    assert store.answer_cache(evaluation_id, 3600).preload(["k1", "k2"]) == 0


def test_a_chunk_reads_its_job_and_its_record_together(store: Any) -> None:
    evaluation_id = running_job(store)
    assert store.get_with_chunk(uuid.uuid4().hex, 0) == (None, None)
    job, record = store.get_with_chunk(evaluation_id, 1)
    assert (job, record) == (store.get(evaluation_id), None)
    committed = chunk(1, errors=1)
    assert store.commit_chunk(evaluation_id, committed) == "committed"
    job, record = store.get_with_chunk(evaluation_id, 1)
    assert record == committed == store.get_chunk(evaluation_id, 1)
    assert (job.done, job.errors, job.chunks_done) == (10, 1, 1)
    assert store.get_with_chunk(evaluation_id, 0)[1] is None
