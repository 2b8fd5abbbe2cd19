"""A backing store that cannot be reached (DynamoDB on a dead endpoint) gives a clean 503 with
Retry-After, never a 500, and leaves no partial record behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from tests.conftest import API_KEY
from tests.test_api_invoke import POSITIVE, error_of, invoke

DEAD_ENDPOINT = "http://127.0.0.1:9"  # discard port: connections are refused at once


@contextmanager
def down(service: str) -> Iterator[None]:
    """`service` (DYNAMODB, SQS) on a dead endpoint inside the block, back after it."""
    from chalicelib import aws

    os.environ[f"AWS_ENDPOINT_URL_{service}"] = DEAD_ENDPOINT
    aws.reset_clients()
    try:
        yield
    finally:
        del os.environ[f"AWS_ENDPOINT_URL_{service}"]
        aws.reset_clients()


def evaluate_while_down(client: Any, service: str) -> Any:
    """Start a small inline evaluation with `service` down: a clean 503 service_unavailable."""
    records = [{"prompt": "great drug\n\n###\n\n", "completion": " positive"}] * 3
    body = json.dumps({"models": ["sentiment-converse"], "dataset": {"records": records}})
    headers = {"x-api-key": API_KEY, "content-type": "application/json"}
    with down(service):
        response = client.http.post("/v1/evaluations", headers=headers, body=body)
    assert response.status_code == 503, response.body
    assert error_of(response)["code"] == "service_unavailable"
    return response


def count(table: str) -> int:
    """Items in `table`: every page (one Scan page stops at 1 MB of items, so a single call
    undercounts once the session's tests have written more than that)."""
    client = boto3.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    total = 0
    while True:
        page = client.scan(**kwargs)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_invoke_with_dynamodb_down_is_503_and_records_nothing(
    client: Any, local_stack: Any
) -> None:
    before = count("tunegate-test-invocations")
    invocation = json.loads(invoke(client, "sentiment-converse", {"input": POSITIVE}).body)
    with down("DYNAMODB"):
        response = invoke(client, "sentiment-converse", {"input": POSITIVE})
        body = {
            "invocation_id": invocation["invocation_id"],
            "feedback_token": invocation["feedback_token"],
            "rating": 5,
        }
        feedback = client.http.post(
            "/v1/feedback", headers={"content-type": "application/json"}, body=json.dumps(body)
        )
    for failed in (response, feedback):
        assert failed.status_code == 503, failed.body
        error = error_of(failed)
        assert error["code"] == "service_unavailable" and "try again" in error["message"]
        assert int(failed.headers["Retry-After"]) > 0
    assert count("tunegate-test-invocations") == before + 1  # only the first invocation
    stored = boto3.client("dynamodb").get_item(
        TableName="tunegate-test-feedback",
        Key={"invocation_id": {"S": invocation["invocation_id"]}},
    )
    assert "Item" not in stored
    # and the service recovers by itself once the store is back
    assert invoke(client, "sentiment-converse", {"input": POSITIVE}).status_code == 200


def test_evaluation_with_sqs_down_is_503_and_leaves_a_failed_job(client: Any) -> None:
    queued_before = queued_jobs()
    response = evaluate_while_down(client, "SQS")
    assert int(response.headers["Retry-After"]) > 0
    # nothing half-written: no job is left "queued" without its message
    assert queued_jobs() == queued_before


def queued_jobs() -> int:
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName="tunegate-test-evaluations")
    )
    return sum(
        item.get("sk", {}).get("S") == "meta" and item.get("status", {}).get("S") == "queued"
        for page in pages
        for item in page["Items"]
    )


def test_evaluation_with_dynamodb_down_leaves_no_inline_dataset(client: Any) -> None:
    """The inline dataset is written before the job record; a refused record takes it back."""
    before = evaluation_objects()
    evaluate_while_down(client, "DYNAMODB")
    assert evaluation_objects() == before


def evaluation_objects() -> set[str]:
    pages = (
        boto3.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket="tunegate-test-results", Prefix="evaluations/")
    )
    return {o["Key"] for page in pages for o in page.get("Contents", [])}
