"""The DynamoDB helper: update expressions from plain values, and an unreachable table that
becomes ServiceUnavailable with a Retry-After in every store (never a botocore error)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.errors import ServiceUnavailable
from chalicelib.storage.dynamo import Update

DEAD_ENDPOINT = "http://127.0.0.1:9"  # discard port: connections are refused at once


def test_an_update_aliases_every_name_and_removes_none() -> None:
    update = Update().set(status="done", comment=None).add(count=2).remove("lease")
    update.set_if_absent(created_at="t").increment(revision=1)
    condition = update.condition("#status = :was AND #round = :round", was="running", round=3)
    request = update.request("table", {"pk": {"S": "k"}}, condition)
    assert request["UpdateExpression"] == (
        "SET #status = :v0, #created_at = if_not_exists(#created_at, :v2), "
        "#revision = if_not_exists(#revision, :v3) + :v4 ADD #count :v1 "
        "REMOVE #comment, #lease"
    )
    assert request["ConditionExpression"] == condition
    assert set(request["ExpressionAttributeNames"]) == {
        "#status",
        "#comment",
        "#count",
        "#lease",
        "#created_at",
        "#revision",
        "#round",
    }
    assert request["ExpressionAttributeValues"][":round"] == {"N": "3"}
    assert "ConditionExpression" not in Update().set(a=1).request("table", {})


@pytest.fixture()
def dead_dynamodb(local_stack: Any) -> Iterator[None]:
    from chalicelib import aws

    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = DEAD_ENDPOINT
    aws.reset_clients()
    yield
    del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    aws.reset_clients()


def test_an_unreachable_table_is_service_unavailable(dead_dynamodb: None) -> None:
    from chalicelib.storage.feedback import DynamoFeedbackStore, FeedbackRecord
    from chalicelib.storage.invocations import DynamoInvocationStore
    from chalicelib.storage.jobs import DynamoJobStore

    jobs, invocations = DynamoJobStore("t"), DynamoInvocationStore("t")
    feedback = DynamoFeedbackStore("t")
    calls = [
        lambda: jobs.get("x"),
        lambda: jobs.transition("x", expect="running", round=0, sets={"a": 1}),
        lambda: jobs.chunks("x"),
        lambda: invocations.get("x"),
        lambda: invocations.get_many(["x"]),
        lambda: feedback.upsert(FeedbackRecord(str(uuid.uuid4()), "m", "t", rating=1)),
        lambda: list(feedback.for_model("m")),
    ]
    for call in calls:
        with pytest.raises(ServiceUnavailable) as raised:
            call()
        assert raised.value.retry_after and raised.value.status == 503
