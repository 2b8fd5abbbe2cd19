"""Evaluation jobs on the local stack: the API through chalice.test, the worker polling the moto
SQS queue and calling the Lambda's own entry point, models answered by the emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import auth_headers

ROOT = Path(__file__).resolve().parents[2]
TEST_SET = ROOT / "examples" / "drugreview" / "openai" / "test.jsonl"
MODELS = ["sentiment-converse", "sentiment-legacy"]
#: Small chunks and a small window, so a 98-item set spans many chunks and window steps.
JOB_SETTINGS = {
    "EVALUATION_CHUNK_SIZE": "10",
    "EVALUATION_CHUNKS_IN_FLIGHT": "3",
    "EVALUATION_CHUNK_CONCURRENCY": "4",
}
FINISHED = {"succeeded", "completed_with_errors", "failed", "cancelled"}


def job_record(**fields: Any) -> Any:
    """A JobRecord with small defaults (a running one-model job), `fields` over them."""
    import uuid

    from chalicelib.jobs.models import JobRecord

    defaults: dict[str, Any] = {
        "evaluation_id": uuid.uuid4().hex,
        "status": "running",
        "models": ["m"],
        "dataset": "s3://b/k",
        "created_at": "2026-01-01T00:00:00+00:00",
        "chunk_size": 10,
        "chunks_in_flight": 1,
        "chunk_concurrency": 1,
    }
    return JobRecord(**{**defaults, **fields})


def planned(n_chunks: int) -> dict[str, int]:
    """The JobRecord fields of a job planned into `n_chunks` chunks of 10, all scheduled."""
    return {
        "total": 10 * n_chunks,
        "n_chunks": n_chunks,
        "n_scheduled": n_chunks,
        "planned_round": 0,
    }


def drug_review_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TEST_SET.read_text().splitlines() if line.strip()]


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """results/comparison/samples without latency percentiles (wall-clock, never repeatable)."""

    def strip(metrics: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in metrics.items() if k != "latency_ms"}
        if isinstance(out.get("per_category"), dict):
            out["per_category"] = {c: strip(m) for c, m in out["per_category"].items()}
        return out

    return {
        "results": {m: strip(r) for m, r in document["results"].items()},
        "comparison": document["comparison"],
        "samples": document["samples"],
    }


def configure_jobs(**settings: str) -> None:
    from chalicelib.jobs.context import reset_job_context

    os.environ.update({**JOB_SETTINGS, **settings})
    reset_job_context()


@dataclass
class Harness:
    client: Any
    app: Any
    emulator: Any
    worker: Any
    created: list[str] = field(default_factory=list)

    def post(self, path: str, body: Any = None) -> Any:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body or {})
        return self.client.http.post(path, headers=auth_headers(), body=raw)

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=auth_headers())

    def submit(self, body: dict[str, Any]) -> str:
        response = self.post("/v1/evaluations", body)
        assert response.status_code == 202, response.body
        payload = json.loads(response.body)
        assert payload["status"] == "queued"
        assert response.headers["Location"] == f"/v1/evaluations/{payload['evaluation_id']}"
        self.created.append(payload["evaluation_id"])
        return str(payload["evaluation_id"])

    def job(self, evaluation_id: str) -> dict[str, Any]:
        response = self.get(f"/v1/evaluations/{evaluation_id}")
        assert response.status_code == 200, response.body
        return dict(json.loads(response.body))

    def record(self, evaluation_id: str) -> Any:
        from chalicelib.jobs.context import get_job_context

        return get_job_context().store.get(evaluation_id)

    def finished(self, evaluation_id: str) -> bool:
        """Final status, and its outputs written (failed jobs have none)."""
        job = self.record(evaluation_id)
        return bool(job.status in FINISHED and (job.status == "failed" or job.results_ready))

    def run(self, evaluation_id: str, timeout: float = 60, slots: int = 1) -> dict[str, Any]:
        self.worker.slots = slots
        self.worker.run_until(lambda: self.finished(evaluation_id), timeout=timeout)
        return self.job(evaluation_id)

    def drain(self) -> None:
        """Handle whatever is left in the queue (e.g. no-op messages of a cancelled job)."""
        while self.worker.poll_once(wait_seconds=0):
            pass

    def items(self, evaluation_id: str, query: str = "") -> list[dict[str, Any]]:
        """Every item record, following the cursor."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            path = f"/v1/evaluations/{evaluation_id}/items?{query}"
            if cursor:
                path += f"&cursor={cursor}"
            response = self.get(path)
            assert response.status_code == 200, response.body
            page = json.loads(response.body)
            records.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return records

    def calls(self) -> int:
        return int(self.emulator.stats()["total"])


def purge_queue(queue_name: str) -> None:
    """Empty the queue. SQS (and moto) allow one PurgeQueue a minute; within that minute the
    visible messages are deleted one by one instead."""
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages"):
        try:
            sqs.purge_queue(QueueUrl=url)
        except sqs.exceptions.PurgeQueueInProgress:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)


@pytest.fixture()
def jobs(client: Any, stack: Any, emulator: Any) -> Iterator[Harness]:
    from chalicelib.config.settings import get_settings
    from chalicelib.jobs.context import reset_job_context
    from scripts.worker import LocalWorker

    configure_jobs()
    queue = get_settings().evaluation_queue
    purge_queue(queue)
    worker = LocalWorker(stack.evaluation_worker, queue, wait_seconds=1)
    yield Harness(client, stack.app, emulator, worker)
    emulator.reset()
    purge_queue(queue)
    for name in JOB_SETTINGS:
        os.environ.pop(name, None)
    reset_job_context()


@pytest.fixture(scope="session")
def reference(local_stack: Any) -> dict[str, Any]:
    """The test set evaluated in one pass, in-process, fault-free (what every job must equal)."""
    from chalicelib.config.registry import load_registry
    from chalicelib.evaluation.datasets import Dataset
    from chalicelib.evaluation.runner import evaluate_chunk

    local_stack.emulator.reset()
    registry = {d.name: d for d in load_registry(local_stack.models_file).deployments}
    items = list(Dataset.from_records("test", drug_review_records()).items())
    outcome = evaluate_chunk(items, [registry[m] for m in MODELS], concurrency=8, seed=0)
    local_stack.emulator.reset()
    return {"outcome": outcome, **outcome.totals.results()}
