"""At-least-once delivery, exactly-once effect: redelivered messages, a worker killed mid-chunk,
and an unreliable model all end with every item counted once and the metrics of a clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.jobs.conftest import (
    MODELS,
    ROOT,
    Harness,
    comparable,
    configure_jobs,
    job_record,
    planned,
)
from tests.jobs.conftest import drug_review_records as records_of_test_set
from tests.jobs.test_end_to_end import evaluation_metrics


def test_every_message_delivered_twice_counts_once(
    jobs: Harness, reference: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    records = records_of_test_set()
    jobs.worker.redeliver = True  # each message is handled, made visible again, handled again
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    capsys.readouterr()
    job = jobs.run(evaluation_id)
    jobs.drain()  # the second deliveries still queued after the finaliser ran
    emitted = evaluation_metrics(capsys.readouterr().out)

    n_chunks = jobs.record(evaluation_id).n_chunks
    # plan + one message per chunk, each delivered twice
    assert jobs.worker.handled == 2 * (1 + n_chunks)
    assert job["status"] == "succeeded"
    assert job["progress"] == {"total": len(records), "done": len(records), "errors": 0}
    assert comparable(job) == comparable(reference)
    assert jobs.calls() == len(records) * len(MODELS)  # second deliveries call no model
    assert set(emitted) == set(MODELS)  # once per model (evaluation_metrics fails on twice)
    for model in MODELS:
        assert emitted[model]["EvaluationAccuracy"] == pytest.approx(
            reference["results"][model]["accuracy"]
        )


def test_a_losing_chunk_attempt_deletes_its_own_results_object(jobs: Harness) -> None:
    """Two deliveries of one chunk can both run before either commits; the loser's object
    must go, the winner's stay (the record points at it)."""
    import boto3

    from chalicelib.evaluation.runner import ChunkOutcome
    from chalicelib.jobs.context import get_job_context
    from chalicelib.jobs.worker import store_chunk

    records = records_of_test_set()[:20]
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    assert jobs.run(evaluation_id)["status"] == "succeeded"
    ctx = get_job_context()
    job = ctx.store.get(evaluation_id)
    winner = ctx.store.get_chunk(evaluation_id, 0)
    assert job is not None and winner is not None
    results, totals = ctx.objects.get_chunk(winner.object_key)

    outcome = store_chunk(ctx, job, 0, ChunkOutcome(results, totals))  # a late second attempt

    assert outcome == "duplicate"
    listing = boto3.client("s3").list_objects_v2(
        Bucket=ctx.objects.bucket, Prefix=f"evaluations/{evaluation_id}/chunks/000000/"
    )
    assert [o["Key"] for o in listing.get("Contents", [])] == [winner.object_key]
    assert ctx.store.get_chunk(evaluation_id, 0) == winner


def test_a_worker_killed_mid_chunk_loses_nothing_and_repeats_little(
    jobs: Harness, reference: dict[str, Any]
) -> None:
    records = records_of_test_set()
    configure_jobs(
        EVALUATION_CHUNK_SIZE="25",
        EVALUATION_CHUNKS_IN_FLIGHT="2",
        EVALUATION_CHUNK_CONCURRENCY="3",
    )
    cap = 2 * 3  # model calls in flight at most
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    jobs.emulator.set_faults(latency_ms=100)
    worker = subprocess.Popen(
        [
            sys.executable,
            "scripts/worker.py",
            "--processes",
            "2",
            "--wait-seconds",
            "1",
            "--visibility-timeout",
            "3",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while jobs.calls() < 5 * cap:  # well into the first two chunks, none finished
            if worker.poll() is not None:
                pytest.fail(f"the worker exited: {worker.communicate()[1].decode()[-2000:]}")
            assert time.monotonic() < deadline, "the subprocess worker made no progress"
            time.sleep(0.05)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)  # the worker and its two processes
        worker.wait()
    time.sleep(0.3)  # calls the dead worker left in flight reach the emulator's stats
    answered_before_kill = jobs.calls()
    progress_at_kill = jobs.record(evaluation_id).done
    assert progress_at_kill < len(records)

    jobs.emulator.set_faults()  # no latency: the fresh worker finishes quickly
    jobs.worker.visibility_timeout = 3
    job = jobs.run(evaluation_id, timeout=60, slots=2)

    assert job["status"] == "succeeded"
    assert job["progress"] == {"total": len(records), "done": len(records), "errors": 0}
    assert comparable(job) == comparable(reference)
    total_calls = jobs.calls()
    assert total_calls >= len(records) * len(MODELS)
    # Answers given before the kill came from the answer cache: only the calls in flight at the
    # kill and the answers of the cache writer's last 50 ms were asked again, not the chunks.
    assert total_calls - len(records) * len(MODELS) <= 2 * cap < answered_before_kill
    items = jobs.items(evaluation_id)
    assert sorted((r["index"], r["model"]) for r in items) == [
        (i, m) for i in range(len(records)) for m in MODELS
    ]


def test_throttling_not_ready_and_timeouts_change_nothing(
    jobs: Harness, reference: dict[str, Any]
) -> None:
    records = records_of_test_set()
    jobs.emulator.set_faults(
        throttle_rate=0.2,
        model_not_ready_rate=0.05,
        timeout_rate=0.02,
        timeout_seconds=1.5,
        seed=7,
    )
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    job = jobs.run(evaluation_id, timeout=80, slots=3)

    outcomes = jobs.emulator.stats()["outcomes"]
    for fault in ("ThrottlingException", "ModelNotReadyException", "timeout"):
        assert outcomes.get(fault, 0) > 0, outcomes
    assert job["status"] == "succeeded"
    assert job["progress"] == {"total": len(records), "done": len(records), "errors": 0}
    assert comparable(job) == comparable(reference)


def test_a_failing_message_is_reported_and_its_last_delivery_fails_the_job(
    jobs: Harness, stack: Any
) -> None:
    from chalicelib.jobs.context import get_job_context
    from chalicelib.jobs.models import JobMessage

    store = get_job_context().store
    evaluation_id = "0" * 31 + "1"
    store.create(
        job_record(
            evaluation_id=evaluation_id,
            models=MODELS,
            dataset="s3://nowhere/none.jsonl",
            **planned(1),
        )
    )
    body = JobMessage("chunk", evaluation_id, 0, 0).body()  # its input was never written

    def deliver(receives: int) -> dict[str, Any]:
        record = {
            "messageId": f"m{receives}",
            "receiptHandle": "r",
            "body": body,
            "attributes": {"ApproximateReceiveCount": str(receives)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        other = {**record, "messageId": "ok", "body": json.dumps({"not": "a job message"})}
        return dict(stack.evaluation_worker({"Records": [record, other]}, None))

    assert deliver(1) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert store.get(evaluation_id).status == "running"
    assert deliver(5) == {"batchItemFailures": [{"itemIdentifier": "m5"}]}
    failed = jobs.job(evaluation_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "internal_error"
    assert jobs.calls() == 0
