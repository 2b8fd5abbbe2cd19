"""OpenAI-compatible route overhead: the same input to the same deployment (echo model on the
emulator, zero model latency) through `POST /v1/models/{name}/invoke` and through
`POST /v1/chat/completions` / `POST /v1/completions`, in process (chalice.test -> app -> boto3,
invocation recorded on the moto server), interleaved in blocks in one run.

Run: .venv/bin/python bench/bench_openai_routes.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import start_local_stack  # noqa: E402

ECHO_ARN = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/echo-bench"
REGISTRY = {
    "deployments": [
        {
            "name": "bench",
            "provider": "bedrock",
            "model_id": ECHO_ARN,
            "request_format": "converse",
            "prompt": {"system": "Classify.", "separator": "\n\n###\n\n"},
            "inference": {"max_tokens": 5, "stop": ["\n"]},
            "output": {"type": "label", "labels": ["positive", "negative"]},
        }
    ]
}
KEY = "bench-api-key"
TEXT = "positive"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    out = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the app's logs and EMF go to stdout)
    stack = start_local_stack(REGISTRY, api_key=KEY, train_file=None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from chalice.test import Client

    import app as app_module

    bodies = {
        "invoke": ("/v1/models/bench/invoke", {"input": TEXT}),
        "chat/completions": (
            "/v1/chat/completions",
            {"model": "bench", "messages": [{"role": "user", "content": TEXT}], "stop": ["\n"]},
        ),
        "completions": ("/v1/completions", {"model": "bench", "prompt": TEXT, "stop": ["\n"]}),
    }
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    with Client(app_module.app, stage_name="bench", project_dir=str(ROOT)) as client:

        def call(path: str, raw: bytes):  # type: ignore[no-untyped-def]
            def send() -> None:
                response = client.http.post(path, headers=headers, body=raw)
                assert response.status_code == 200, response.body

            return send

        paths = {
            name: call(path, json.dumps(body).encode()) for name, (path, body) in bodies.items()
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for fn in paths.values():
            timed(fn, 50)
        # Small interleaved blocks: the local stack shares this process and the machine is
        # shared, so drift must hit every route alike.
        for _ in range(max(1, args.requests // 20)):
            for name, fn in paths.items():
                samples[name] += timed(fn, 20)
    stack.stop()
    sys.stdout = out
    n = len(samples["invoke"])
    print(f"OpenAI-compatible routes vs invoke, {n} requests per route, emulator latency 0 ms")
    print(f"{'route':20} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in samples.items():
        print(
            f"{name:20} {percentile(values, 50):8.3f} {percentile(values, 99):8.3f} "
            f"{statistics.fmean(values):8.3f}"
        )
    base = percentile(samples["invoke"], 50)
    for name in ("chat/completions", "completions"):
        ratio = percentile(samples[name], 50) / base
        print(f"p50 ratio {name} / invoke: {ratio:.3f} (goal <= 1.1)")


if __name__ == "__main__":
    main()
