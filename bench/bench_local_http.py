"""Sequential invokes under `make run`'s server (`devstack.chalice_local`) against the floor:
(a) direct boto3 Converse on the emulator plus one bare DynamoDB put on the moto server (what an
invoke costs outside our code), (b) one kept-alive HTTP connection to the app, (c) a fresh
connection per request. Paths interleaved in blocks so machine drift hits all alike.

Run: .venv/bin/python bench/bench_local_http.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    ECHO_ARN,
    KEY,
    REGISTRY,
    direct_bedrock,
    interleaved,
    percentile,
    print_table,
    start_quiet,
)
from devstack import serve_api  # noqa: E402

BODY = json.dumps({"input": "positive"}).encode()
HEADERS = {"x-api-key": KEY, "content-type": "application/json"}


def invoke(connection: http.client.HTTPConnection) -> None:
    connection.request("POST", "/v1/models/bench/invoke", body=BODY, headers=HEADERS)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    stack, out = start_quiet(REGISTRY)
    import boto3

    bedrock = direct_bedrock()
    dynamodb = boto3.client("dynamodb")
    request = {
        "system": [{"text": "Classify."}],
        "messages": [{"role": "user", "content": [{"text": "positive\n\n###\n\n"}]}],
        "inferenceConfig": {"maxTokens": 5},
    }

    def floor() -> None:
        bedrock.converse(modelId=ECHO_ARN, **request)
        dynamodb.put_item(
            TableName=os.environ["INVOCATIONS_TABLE"],
            Item={"invocation_id": {"S": str(uuid.uuid4())}, "model": {"S": "bench"}},
            ConditionExpression="attribute_not_exists(invocation_id)",
        )

    sys.stdout = out
    with serve_api() as base:
        netloc = urlsplit(base).netloc
        kept = http.client.HTTPConnection(netloc, timeout=30)

        def fresh() -> None:
            connection = http.client.HTTPConnection(netloc, timeout=30)
            try:
                invoke(connection)
            finally:
                connection.close()

        paths: dict[str, Callable[[], None]] = {
            "(a) boto3 Converse + one moto put": floor,
            "(b) app, one kept-alive connection": lambda: invoke(kept),
            "(c) app, a fresh connection each": fresh,
        }
        samples = interleaved(paths, args.requests, block=50, warm=30)
        kept.close()
    stack.stop()
    n = len(samples["(a) boto3 Converse + one moto put"])
    print(f"sequential invokes under chalice local, {n} per path, emulator latency 0 ms")
    print_table("path", samples, width=38, digits=2)
    p50 = {name[:3]: percentile(values, 50) for name, values in samples.items()}
    print(f"p50 (b) - (a): {p50['(b)'] - p50['(a)']:.2f} ms (goal: within 5 ms)")


if __name__ == "__main__":
    main()
