"""Feedback post through the app in-process (chalice.test -> token check -> one UpdateItem)
against a bare DynamoDB conditional put on the same moto server.

Run: .venv/bin/python bench/bench_feedback.py [--posts 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import KEY, REGISTRY, percentile, timed  # noqa: E402
from devstack import start_local_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1000)
    args = parser.parse_args()
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (app logs/EMF)
    stack = start_local_stack(REGISTRY, api_key=KEY, train_file=None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    from chalice.test import Client

    import app as app_module

    dynamodb = boto3.client("dynamodb")
    table = os.environ["FEEDBACK_TABLE"]
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    with Client(app_module.app, stage_name="bench", project_dir=str(ROOT)) as client:
        invocations = []
        for _ in range(args.posts + 50):
            response = client.http.post(
                "/v1/models/bench/invoke", headers=headers, body=b'{"input": "positive"}'
            )
            invocations.append(json.loads(response.body))
        pending = iter(invocations)

        def through_app() -> None:
            inv = next(pending)
            body = {
                "invocation_id": inv["invocation_id"],
                "feedback_token": inv["feedback_token"],
                "rating": 4,
            }
            response = client.http.post(
                "/v1/feedback", headers={"content-type": "application/json"}, body=json.dumps(body)
            )
            assert response.status_code == 201, response.body

        def bare_put() -> None:
            dynamodb.put_item(
                TableName=table,
                Item={
                    "invocation_id": {"S": str(uuid.uuid4())},
                    "model": {"S": "bench"},
                    "rating": {"N": "4"},
                    "updated_at": {"S": "2026-11-21T00:00:00.000+00:00"},
                },
                ConditionExpression="attribute_not_exists(invocation_id)",
            )

        timed(through_app, 25)
        timed(bare_put, 25)
        a: list[float] = []
        b: list[float] = []
        for _ in range(max(1, args.posts // 50)):
            a += timed(bare_put, 50)
            b += timed(through_app, 50)
    stack.stop()
    sys.stdout = out
    print(f"feedback post, {len(b)} posts per path, same moto server")
    print(f"{'path':40} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in (
        ("(a) bare DynamoDB conditional put", a),
        ("(b) POST /v1/feedback in-process", b),
    ):
        print(
            f"{name:40} {percentile(values, 50):8.3f} {percentile(values, 99):8.3f} "
            f"{statistics.fmean(values):8.3f}"
        )
    print(f"ratio b/a (p50): {percentile(b, 50) / percentile(a, 50):.2f}")


if __name__ == "__main__":
    main()
