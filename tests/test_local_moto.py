"""The local stack's moto applies each DynamoDB request atomically, as DynamoDB does.

The feedback store's `revision` and the job store's counters rely on it; plain moto loses
updates when requests on one item race (see devstack/moto_server.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from devstack.moto_server import SerialDynamoDB


class OverlapProbe:
    """A WSGI app that records how many requests of each kind it is inside at once."""

    def __init__(self) -> None:
        self.inside = {"dynamodb": 0, "other": 0}
        self.most = {"dynamodb": 0, "other": 0}
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        kind = "dynamodb" if "HTTP_X_AMZ_TARGET" in environ else "other"
        with self._lock:
            self.inside[kind] += 1
            self.most[kind] = max(self.most[kind], self.inside[kind])
        time.sleep(0.02)
        with self._lock:
            self.inside[kind] -= 1
        start_response("200 OK", [])
        return [b"{}"]


def test_dynamodb_requests_never_overlap_and_others_do() -> None:
    probe = OverlapProbe()
    app = SerialDynamoDB(probe)
    dynamodb = {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem"}

    def call(environ: dict[str, Any]) -> list[bytes]:
        return list(app(environ, lambda *_: None))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, [dynamodb] * 8 + [{}] * 8))
    assert answers == [[b"{}"]] * 16
    assert probe.most["dynamodb"] == 1
    assert probe.most["other"] > 1


def test_racing_updates_of_one_item_are_all_applied(local_stack: Any) -> None:
    dynamodb = boto3.client("dynamodb")
    table = "tunegate-test-atomicity"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def bump(_: int) -> None:
        dynamodb.update_item(
            TableName=table,
            Key={"k": {"S": "counter"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(bump, range(400)))
        item = dynamodb.get_item(TableName=table, Key={"k": {"S": "counter"}}, ConsistentRead=True)
        assert item["Item"]["n"] == {"N": "400"}
    finally:
        dynamodb.delete_table(TableName=table)
