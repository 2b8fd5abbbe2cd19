"""Load test on loopback: 50 concurrent clients send 2,000 invokes, then 2,000 feedback posts
(one per invocation), to the app under `chalice local` backed by the local stack. Reports
throughput, p50/p99, status codes, and checks in DynamoDB that no record was lost or doubled.

Bounded: a fixed number of requests, 127.0.0.1 only, stops by itself.
Run: .venv/bin/python bench/bench_load.py [--clients 50] [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import KEY, REGISTRY, percentile  # noqa: E402
from devstack import serve_api, start_local_stack  # noqa: E402

_local = threading.local()


def post(
    base: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any, float]:
    """One POST over this thread's kept-alive connection: (status, JSON body, ms)."""
    netloc = urlsplit(base).netloc
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = http.client.HTTPConnection(netloc, timeout=30)
    payload = json.dumps(body).encode()
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except (http.client.HTTPException, OSError):
        _local.connection = None
        connection.close()
        return 0, None, (time.perf_counter() - started) * 1000
    elapsed = (time.perf_counter() - started) * 1000
    return response.status, json.loads(raw) if raw else None, elapsed


def phase(name: str, jobs: list[Any], clients: int, run: Any) -> list[tuple[int, Any, float]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(run, jobs))
    wall = time.perf_counter() - started
    statuses = Counter(status for status, _, _ in results)
    latencies = [ms for _, _, ms in results]
    print(
        f"{name:10} {len(results):6} {len(results) / wall:9.1f} {percentile(latencies, 50):8.1f} "
        f"{percentile(latencies, 99):8.1f}  {dict(sorted(statuses.items()))}"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (stack start-up noise)
    stack = start_local_stack(REGISTRY, api_key=KEY, train_file=None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3

    dynamodb = boto3.client("dynamodb")

    def count(table: str) -> int:
        pages = dynamodb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
        return sum(page["Count"] for page in pages)

    invocations_before = count(os.environ["INVOCATIONS_TABLE"])
    feedback_before = count(os.environ["FEEDBACK_TABLE"])
    sys.stdout = out
    with serve_api() as base:
        keyed = {"x-api-key": KEY, "content-type": "application/json"}
        plain = {"content-type": "application/json"}
        print(f"load on {base}: {args.clients} clients, loopback only")
        print(f"{'phase':10} {'reqs':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses")
        invoked = phase(
            "invoke",
            [{"input": f"positive review number {i}"} for i in range(args.requests)],
            args.clients,
            lambda body: post(base, "/v1/models/bench/invoke", body, keyed),
        )
        ratings = [
            {
                "invocation_id": b["invocation_id"],
                "feedback_token": b["feedback_token"],
                "rating": 1 + i % 5,
            }
            for i, (status, b, _) in enumerate(invoked)
            if status == 200
        ]
        rated = phase(
            "feedback", ratings, args.clients, lambda body: post(base, "/v1/feedback", body, plain)
        )
    new_invocations = count(os.environ["INVOCATIONS_TABLE"]) - invocations_before
    new_feedback = count(os.environ["FEEDBACK_TABLE"]) - feedback_before
    stack.stop()
    five_xx = sum(status >= 500 or status == 0 for status, _, _ in invoked + rated)
    ok_invokes = sum(status == 200 for status, _, _ in invoked)
    created = sum(status == 201 for status, _, _ in rated)
    print(f"5xx or dropped connections: {five_xx}")
    exact = (new_invocations, new_feedback) == (ok_invokes, created)
    print(
        f"invocation records: {new_invocations} for {ok_invokes} answered invokes; "
        f"feedback records: {new_feedback} for {created} created posts "
        f"({'no loss, no duplicates' if exact else 'MISMATCH'})"
    )


if __name__ == "__main__":
    main()
