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
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_gateway import ECHO_ARN, KEY, REGISTRY, percentile  # noqa: E402
from devstack import serve_api, start_local_stack  # noqa: E402

BODY = json.dumps({"input": "positive"}).encode()
HEADERS = {"x-api-key": KEY, "content-type": "application/json"}


def ms(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def invoke(connection: http.client.HTTPConnection) -> None:
    connection.request("POST", "/v1/models/bench/invoke", body=BODY, headers=HEADERS)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (stack start-up noise)
    stack = start_local_stack(REGISTRY, api_key=KEY, train_file=None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3

    from chalicelib import aws
    from chalicelib.providers.retries import invoke_policy

    model_config = aws.model_config(invoke_policy(3).botocore_retries())
    bedrock = boto3.client("bedrock-runtime", config=model_config)
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
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for fn in paths.values():
            for _ in range(30):
                fn()
        for _ in range(max(1, args.requests // 50)):
            for name, fn in paths.items():
                samples[name] += [ms(fn) for _ in range(50)]
        kept.close()
    stack.stop()
    n = len(samples["(a) boto3 Converse + one moto put"])
    print(f"sequential invokes under chalice local, {n} per path, emulator latency 0 ms")
    print(f"{'path':38} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in samples.items():
        print(
            f"{name:38} {percentile(values, 50):8.2f} {percentile(values, 99):8.2f} "
            f"{statistics.fmean(values):8.2f}"
        )
    p50 = {name[:3]: percentile(values, 50) for name, values in samples.items()}
    print(f"p50 (b) - (a): {p50['(b)'] - p50['(a)']:.2f} ms (goal: within 5 ms)")


if __name__ == "__main__":
    main()
