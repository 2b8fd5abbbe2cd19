"""What the gateway benches share: the echo deployment, its key, the quiet local stack start,
the timing loop and the p50/p99/mean table. Benches run as scripts with ROOT on sys.path."""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

ECHO_ARN = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/echo-bench"
KEY = "bench-api-key"


def registry(**inference: Any) -> dict[str, Any]:
    """One label deployment `bench` on the echo model (max 5 tokens, plus `inference`)."""
    return {
        "deployments": [
            {
                "name": "bench",
                "provider": "bedrock",
                "model_id": ECHO_ARN,
                "request_format": "converse",
                "prompt": {"system": "Classify.", "separator": "\n\n###\n\n"},
                "inference": {"max_tokens": 5, **inference},
                "output": {"type": "label", "labels": ["positive", "negative"]},
            }
        ]
    }


REGISTRY = registry()


def start_quiet(registry: dict[str, Any]) -> tuple[Any, TextIO]:
    """Start the local stack with stdout sent to /dev/null (the app's JSON logs and EMF metrics
    go to stdout as in Lambda; keep them off the table). Returns the stack and the real stdout."""
    from devstack import start_local_stack

    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    stack = start_local_stack(registry, api_key=KEY, train_file=None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return stack, out


def direct_bedrock() -> Any:
    """A bare boto3 bedrock-runtime client configured as the app's invoke path configures its own
    (time budget, retries): the floor the gateway is measured against. Call after the stack has
    set the environment."""
    import boto3

    from chalicelib import aws
    from chalicelib.providers.retries import invoke_policy

    config = aws.model_config(invoke_policy(3).max_attempts)
    return boto3.client("bedrock-runtime", config=config)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    """Wall time of `n` calls of `fn`, in ms each."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def interleaved(
    paths: dict[str, Callable[[], Any]], requests: int, block: int, warm: int
) -> dict[str, list[float]]:
    """Time every path `requests` times in blocks of `block`, taking turns so that drift on the
    shared machine hits every path alike, after `warm` untimed calls each (connections, caches)."""
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for fn in paths.values():
        timed(fn, warm)
    for _ in range(max(1, requests // block)):
        for name, fn in paths.items():
            samples[name] += timed(fn, block)
    return samples


def print_table(label: str, samples: dict[str, list[float]], width: int, digits: int = 3) -> None:
    """One row a path: p50, p99 and mean in ms."""
    print(f"{label:{width}} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in samples.items():
        p50, p99, mean = percentile(values, 50), percentile(values, 99), statistics.fmean(values)
        print(f"{name:{width}} {p50:8.{digits}f} {p99:8.{digits}f} {mean:8.{digits}f}")
