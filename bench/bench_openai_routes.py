"""OpenAI-compatible route overhead: the same input to the same deployment (echo model on the
emulator, zero model latency) through `POST /v1/models/{name}/invoke` and through
`POST /v1/chat/completions` / `POST /v1/completions`, in process (chalice.test -> app -> boto3,
invocation recorded on the moto server), interleaved in blocks in one run.

Run: .venv/bin/python bench/bench_openai_routes.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import KEY, interleaved, percentile, print_table, registry, start_quiet  # noqa: E402

TEXT = "positive"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    stack, out = start_quiet(registry(stop=["\n"]))
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
        # Small blocks: the local stack shares this process and the machine is shared.
        samples = interleaved(paths, args.requests, block=20, warm=50)
    stack.stop()
    sys.stdout = out
    n = len(samples["invoke"])
    print(f"OpenAI-compatible routes vs invoke, {n} requests per route, emulator latency 0 ms")
    print_table("route", samples, width=20)
    base = percentile(samples["invoke"], 50)
    for name in ("chat/completions", "completions"):
        ratio = percentile(samples[name], 50) / base
        print(f"p50 ratio {name} / invoke: {ratio:.3f} (goal <= 1.1)")


if __name__ == "__main__":
    main()
