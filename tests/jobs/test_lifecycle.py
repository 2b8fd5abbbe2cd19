"""A job's life besides the happy path: cancel, retry of error items, datasets that fail before any
model call (inline: 400; S3: job `failed`), unknown ids, results asked for too early."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from tests.jobs.conftest import MODELS, Harness, comparable, configure_jobs
from tests.jobs.conftest import drug_review_records as records_of_test_set

GOOD = {"input": "Worked well, no side effects.", "target": "positive"}
NO_REFERENCE = {"messages": [{"role": "user", "content": "It was fine."}]}
UNKNOWN_SHAPE = {"text": "It was fine.", "label": "neutral"}
EMPTY_REFERENCE = {"prompt": "It was fine.", "completion": "  "}


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.body
    body = json.loads(response.body)
    assert set(body) == {"error"}
    return dict(body["error"])


def test_cancel_stops_new_chunks_and_keeps_what_was_done(jobs: Harness) -> None:
    records = records_of_test_set()
    configure_jobs(EVALUATION_CHUNKS_IN_FLIGHT="1", EVALUATION_CHUNK_CONCURRENCY="2")
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    jobs.worker.run_until(lambda: jobs.record(evaluation_id).done >= 20, timeout=30)
    done_at_cancel = jobs.record(evaluation_id).done

    response = jobs.post(f"/v1/evaluations/{evaluation_id}/cancel")
    assert response.status_code == 202
    assert json.loads(response.body) == {"evaluation_id": evaluation_id, "status": "cancelled"}
    job = jobs.run(evaluation_id)
    jobs.drain()

    job = jobs.job(evaluation_id)
    assert job["status"] == "cancelled" and job["finished_at"]
    assert job["progress"] == {"total": len(records), "done": done_at_cancel, "errors": 0}
    assert done_at_cancel < len(records)
    for model in MODELS:
        assert job["results"][model]["n"] == done_at_cancel
    # chunks after the cancel were never started (one chunk in flight at a time)
    assert jobs.calls() <= (done_at_cancel + 10) * len(MODELS)
    assert len(jobs.items(evaluation_id)) == done_at_cancel * len(MODELS)
    assert jobs.get(f"/v1/evaluations/{evaluation_id}/report").status_code == 200

    again = jobs.post(f"/v1/evaluations/{evaluation_id}/cancel")
    assert error_of(again, 409)["code"] == "invalid_state"
    assert error_of(jobs.post(f"/v1/evaluations/{evaluation_id}/retry"), 409)["code"] == (
        "invalid_state"
    )


def test_a_job_cancelled_before_planning_has_empty_results(jobs: Harness) -> None:
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": [GOOD]}})
    assert jobs.post(f"/v1/evaluations/{evaluation_id}/cancel").status_code == 202
    job = jobs.run(evaluation_id)
    jobs.drain()
    assert job["status"] == "cancelled"
    assert job["progress"] == {"total": None, "done": 0, "errors": 0}
    assert {job["results"][m]["n"] for m in MODELS} == {0}
    assert jobs.calls() == 0


def test_retry_reruns_only_the_error_items(jobs: Harness, reference: dict[str, Any]) -> None:
    from emulator import REFERENCE_MODEL_ARN

    records = records_of_test_set()
    # Access denied is permanent: neither botocore nor the runner asks again.
    jobs.emulator.script([{"model_id": REFERENCE_MODEL_ARN, "error": "AccessDeniedException"}] * 5)
    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": records}})
    job = jobs.run(evaluation_id)

    assert job["status"] == "completed_with_errors"
    failed = jobs.items(evaluation_id, "status=error")
    assert len(failed) == 5 and {r["error_code"] for r in failed} == {"model_error"}
    assert sum(job["results"][m]["n_error"] for m in MODELS) == 5
    assert job["progress"]["errors"] == len({r["index"] for r in failed})
    assert job["progress"]["done"] == len(records)

    jobs.emulator.reset()
    response = jobs.post(f"/v1/evaluations/{evaluation_id}/retry")
    assert response.status_code == 202
    assert json.loads(response.body)["status"] == "queued"
    job = jobs.run(evaluation_id)

    assert job["status"] == "succeeded"
    assert job["progress"] == {"total": len(records), "done": len(records), "errors": 0}
    assert jobs.calls() == 5  # only the failed answers were asked again
    assert comparable(job) == comparable(reference)
    assert jobs.items(evaluation_id, "status=error") == []
    again = jobs.post(f"/v1/evaluations/{evaluation_id}/retry")
    assert error_of(again, 409)["code"] == "invalid_state"


def test_bad_inline_records_are_a_400_with_line_numbers(jobs: Harness) -> None:
    records = [GOOD, GOOD, NO_REFERENCE, GOOD, UNKNOWN_SHAPE, "just text", EMPTY_REFERENCE]
    error = error_of(
        jobs.post("/v1/evaluations", {"models": MODELS, "dataset": {"records": records}}), 400
    )
    assert error["code"] == "invalid_request"
    assert [(d["line"], d["field"]) for d in error["details"]] == [
        (3, "dataset.records.2"),
        (5, "dataset.records.4"),
        (6, "dataset.records.5"),
        (7, "dataset.records.6"),
    ]
    assert "assistant" in error["details"][0]["reason"]
    assert "unknown shape" in error["details"][1]["reason"]

    empty = error_of(
        jobs.post("/v1/evaluations", {"models": MODELS, "dataset": {"records": []}}), 400
    )
    assert empty["details"] == [
        {"field": "dataset.records", "line": 0, "reason": "the dataset is empty"}
    ]
    assert jobs.calls() == 0

    skipping = {"models": MODELS, "dataset": {"records": records}, "skip_invalid_lines": True}
    job = jobs.run(jobs.submit(skipping))
    assert job["status"] == "succeeded"
    assert job["progress"] == {"total": 3, "done": 3, "errors": 0}


@pytest.mark.parametrize(
    ("name", "content", "lines"),
    [
        ("missing-reference", [GOOD, NO_REFERENCE, GOOD], [2]),
        ("unknown-shape", [UNKNOWN_SHAPE, GOOD], [1]),
        ("not-json", [GOOD, "{not json", GOOD, "[1, 2"], [2, 4]),
        ("empty", [], [0]),
    ],
)
def test_bad_s3_datasets_fail_the_job_before_any_model_call(
    jobs: Harness, name: str, content: list[Any], lines: list[int]
) -> None:
    from chalicelib.config.settings import get_settings

    bucket = get_settings().results_bucket
    body = "".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in content)
    boto3.client("s3").put_object(Bucket=bucket, Key=f"datasets/{name}.jsonl", Body=body.encode())
    request = {"models": MODELS, "dataset": {"s3_uri": f"s3://{bucket}/datasets/{name}.jsonl"}}
    job = jobs.run(jobs.submit(request))

    assert job["status"] == "failed" and job["results"] is None
    assert job["error"]["code"] == "invalid_dataset"
    assert [d["line"] for d in job["error"]["details"]] == lines
    assert jobs.calls() == 0
    report = jobs.get(f"/v1/evaluations/{job['evaluation_id']}/report")
    assert error_of(report, 409)["code"] == "invalid_state"


def test_an_unreadable_s3_dataset_fails_the_job(jobs: Harness) -> None:
    from chalicelib.config.settings import get_settings

    uri = f"s3://{get_settings().results_bucket}/datasets/absent.jsonl"
    job = jobs.run(jobs.submit({"models": MODELS, "dataset": {"s3_uri": uri}}))
    assert job["status"] == "failed" and job["error"]["code"] == "dataset_unreadable"
    assert "absent.jsonl" in job["error"]["message"]


def test_request_validation(jobs: Harness) -> None:
    records = {"records": [GOOD]}
    unknown = error_of(
        jobs.post("/v1/evaluations", {"models": [MODELS[0], "nope"], "dataset": records}), 404
    )
    assert unknown["code"] == "not_found" and unknown["details"][0]["field"] == "models.1"
    cases = [
        ({"models": [MODELS[0], MODELS[0]], "dataset": records}, "models"),
        ({"models": [], "dataset": records}, "models"),
        ({"models": MODELS, "dataset": {}}, "dataset"),
        ({"models": MODELS, "dataset": {**records, "s3_uri": "s3://b/k"}}, "dataset"),
        ({"models": MODELS, "dataset": {"s3_uri": "https://b/k"}}, "dataset.s3_uri"),
        ({"models": MODELS, "dataset": {"records": [GOOD] * 1001}}, "dataset.records"),
        ({"models": MODELS, "dataset": records, "limit": 0}, "limit"),
        ({"models": MODELS, "dataset": records, "samples": "5"}, "samples"),
        ({"models": MODELS, "dataset": records, "colour": "blue"}, "colour"),
    ]
    for body, field in cases:
        error = error_of(jobs.post("/v1/evaluations", body), 400)
        assert error["code"] == "invalid_request"
        assert field in [d["field"] for d in error["details"]], (body, error)
    assert jobs.calls() == 0


def test_s3_datasets_only_from_the_configured_prefixes(jobs: Harness) -> None:
    """By default only `s3://<results bucket>/datasets/`: not another bucket the worker can read,
    not another job's objects; EVALUATION_DATASET_PREFIXES (comma-separated) replaces it."""
    from chalicelib.config.settings import get_settings
    from chalicelib.jobs.context import reset_job_context

    bucket = get_settings().results_bucket
    other = jobs.submit({"models": MODELS, "dataset": {"records": [GOOD]}})
    refused = [
        "s3://tunegate-eval-datasets/sets/test.jsonl",
        f"s3://{bucket}/evaluations/{other}/dataset.jsonl",
        f"s3://{bucket}/datasets/../evaluations/{other}/dataset.jsonl",
        f"s3://{bucket}/datasets-other/x.jsonl",
        f"s3://{bucket}-datasets/x.jsonl",
    ]
    for uri in refused:
        error = error_of(
            jobs.post("/v1/evaluations", {"models": MODELS, "dataset": {"s3_uri": uri}}), 400
        )
        assert error["code"] == "invalid_request"
        assert [d["field"] for d in error["details"]] == ["dataset.s3_uri"], uri
    assert (
        f"s3://{bucket}/datasets/"
        in error_of(
            jobs.post("/v1/evaluations", {"models": MODELS, "dataset": {"s3_uri": refused[0]}}), 400
        )["details"][0]["reason"]
    )

    s3 = boto3.client("s3")
    line = (json.dumps(GOOD) + "\n").encode()
    s3.put_object(Bucket=bucket, Key="shared/sets/good.jsonl", Body=line)
    configure_jobs(EVALUATION_DATASET_PREFIXES=f"s3://elsewhere/x/, s3://{bucket}/shared/sets/")
    try:
        accepted = f"s3://{bucket}/shared/sets/good.jsonl"
        job = jobs.run(jobs.submit({"models": MODELS, "dataset": {"s3_uri": accepted}}))
        assert job["status"] == "succeeded"
        default = {"models": MODELS, "dataset": {"s3_uri": f"s3://{bucket}/datasets/x.jsonl"}}
        error_of(jobs.post("/v1/evaluations", default), 400)
    finally:
        os.environ.pop("EVALUATION_DATASET_PREFIXES")
        reset_job_context()


@pytest.mark.parametrize("field", ["limit", "seed", "samples"])
@pytest.mark.parametrize("value", [10**200, -(10**200), 2**63], ids=["huge", "-huge", "2^63"])
def test_out_of_range_numbers_are_a_400_naming_the_field(
    jobs: Harness, field: str, value: int
) -> None:
    """A 200-digit integer used to reach DynamoDB and come back as a 503 (clients retry that
    forever), leaving an inline dataset behind on every attempt."""
    from tests.test_storage_faults import evaluation_objects

    before = evaluation_objects()
    body = {"models": MODELS, "dataset": {"records": [GOOD]}, field: value}
    error = error_of(jobs.post("/v1/evaluations", body), 400)
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == [field]
    assert evaluation_objects() == before
    page = jobs.get(f"/v1/evaluations/{'0' * 32}/items?limit={10**200}")
    assert error_of(page, 400)["details"][0]["field"] == "limit"


def test_a_job_whose_files_expired_is_a_404_not_a_500(jobs: Harness) -> None:
    """The bucket's retention rule removes a job's objects; its record may outlive them."""
    from chalicelib.config.settings import get_settings

    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": [GOOD]}})
    assert jobs.run(evaluation_id)["status"] == "succeeded"
    bucket = get_settings().results_bucket
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"evaluations/{evaluation_id}/")
    for entry in listed["Contents"]:
        s3.delete_object(Bucket=bucket, Key=entry["Key"])
    base = f"/v1/evaluations/{evaluation_id}"
    for path in (base, f"{base}/report", f"{base}/results.json"):
        error = error_of(jobs.get(path), 404)
        assert error["code"] == "not_found" and "expired" in error["message"]
    assert json.loads(jobs.get(f"{base}/items").body) == {"items": [], "next_cursor": None}


def test_unknown_ids_are_404_and_early_results_409(jobs: Harness) -> None:
    for evaluation_id in ("0" * 32, "not-an-id"):
        base = f"/v1/evaluations/{evaluation_id}"
        for path in (base, f"{base}/items", f"{base}/report", f"{base}/results.json"):
            assert error_of(jobs.get(path), 404)["code"] == "not_found"
        for path in (f"{base}/retry", f"{base}/cancel"):
            assert error_of(jobs.post(path), 404)["code"] == "not_found"
    assert jobs.client.http.get("/v1/evaluations/" + "0" * 32).status_code == 401

    evaluation_id = jobs.submit({"models": MODELS, "dataset": {"records": [GOOD]}})
    base = f"/v1/evaluations/{evaluation_id}"
    for path in (f"{base}/report", f"{base}/results.json"):
        response = jobs.get(path)
        assert error_of(response, 409)["code"] == "results_not_ready"
        assert response.headers["Retry-After"] == "5"
    assert json.loads(jobs.get(f"{base}/items").body) == {"items": [], "next_cursor": None}
    job = jobs.job(evaluation_id)
    assert job["status"] == "queued" and job["progress"]["total"] is None
