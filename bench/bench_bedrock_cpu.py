"""Client CPU per evaluated item: Bedrock Converse vs the OpenAI-compatible path (issue 16 item 3).

Both rows run the same items through the evaluation runner (Evaluator.run, concurrency 8)
against the emulator's echo model with 0 ms latency, in one process and one run. The emulator
runs in its own process, so `time.process_time()` of this process is the client's CPU alone:
provider, botocore or stdlib HTTP, runner, scoring. `--profile` adds a cProfile of the Bedrock
path item by item on this thread (cProfile sees one thread; top entries by own time). The
"botocore validation on" row is the Bedrock path with the client configured as before issue 16
item 3 (botocore's client-side parameter validation), for a same-run before/after.

Run: .venv/bin/python bench/bench_bedrock_cpu.py [--items 2000] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runner import (  # noqa: E402
    DEPLOYMENT,
    ECHO_ARN,
    configure,
    start_emulator,
    synthetic_items,
)

CONCURRENCY = 8


def deployments(url: str) -> dict[str, dict[str, object]]:
    openai = {
        **DEPLOYMENT,
        "name": "bench-openai",
        "provider": "openai",
        "model_id": "echo",
        "request_format": "chat",
        "base_url": f"{url}/openai/v1",
        "api_key_env": "BENCH_OPENAI_KEY",
    }
    bedrock = {**DEPLOYMENT, "model_id": ECHO_ARN}
    return {
        "bedrock converse": bedrock,
        # The same deployment through InvokeModel with each family's own body: what a Claude 3
        # Haiku, Llama 3 or Titan Text fine-tune could be served with instead of Converse.
        "bedrock invoke, anthropic body": {**bedrock, "request_format": "anthropic"},
        "bedrock invoke, llama3 body": {**bedrock, "request_format": "llama3"},
        "bedrock invoke, titan body": {**bedrock, "request_format": "titan"},
        "openai-compatible": openai,
    }


@contextmanager
def validation_on() -> Iterator[None]:
    """The model clients as configured before: botocore validates every request's parameters."""
    from botocore.config import Config

    from chalicelib import aws

    original = aws.model_config
    aws.model_config = lambda attempts: original(attempts).merge(Config(parameter_validation=True))  # type: ignore[assignment]
    aws.reset_clients()
    try:
        yield
    finally:
        aws.model_config = original  # type: ignore[assignment]
        aws.reset_clients()


def run(spec: dict[str, object], items: list[object]) -> tuple[float, list[str | None]]:
    """CPU seconds of this process while the runner evaluates `items` against `spec`, and the
    predictions (to check that two paths gave the same answers)."""
    from chalicelib.config.registry import Deployment
    from chalicelib.evaluation.runner import Evaluator

    deployment = Deployment.model_validate(spec)
    evaluator = Evaluator([deployment], concurrency=CONCURRENCY)
    started = time.process_time()
    results = list(evaluator.run(items))  # type: ignore[arg-type]
    cpu = time.process_time() - started
    errors = sum(1 for r in results if r.answers[0].status == "error")
    if errors:
        raise SystemExit(f"{spec['name']}: {errors} errors")
    return cpu, [r.answers[0].prediction for r in results]


def profile_items(spec: dict[str, object], items: list[object]) -> cProfile.Profile:
    """cProfile of evaluate_item, one item after another on this thread."""
    from chalicelib.config.registry import Deployment
    from chalicelib.evaluation.runner import Evaluator

    evaluator = Evaluator([Deployment.model_validate(spec)], concurrency=1)
    profiler = cProfile.Profile()
    profiler.enable()
    for item in items:
        evaluator.evaluate_item(item)  # type: ignore[arg-type]
    profiler.disable()
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-bedrock-cpu-"))
    emulator, url = start_emulator(0)
    try:
        configure(url, workdir)
        os.environ["BENCH_OPENAI_KEY"] = "bench"
        specs = deployments(url)
        rows = [(name, spec, False) for name, spec in specs.items()]
        rows.insert(
            1,
            ("bedrock converse, botocore validation on (before)", specs["bedrock converse"], True),
        )
        items = synthetic_items(args.items)
        best: dict[str, float] = {}
        predictions: dict[str, list[str | None]] = {}
        for _ in range(args.rounds):  # interleaved, best of rounds (load shifts between rows)
            for name, spec, before in rows:
                with validation_on() if before else nullcontext():
                    run(spec, items[:100])  # warm-up: imports, client, connections
                    cpu, predictions[name] = run(spec, items)
                ms = cpu / len(items) * 1000
                best[name] = min(best.get(name, ms), ms)
        profile = None
        if args.profile:
            profile = profile_items(specs["bedrock converse"], items)
    finally:
        emulator.terminate()
        emulator.wait()
    print(
        f"\nClient CPU per item, runner at concurrency {CONCURRENCY}, echo model, 0 ms latency, "
        f"{args.items} items, best of {args.rounds}, load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| path | CPU ms/item |")
    print("| --- | ---: |")
    for name, ms in best.items():
        print(f"| {name} | {ms:.3f} |")
    same = predictions["bedrock converse"]
    for name in specs:
        if name.startswith("bedrock invoke"):
            agree = sum(a == b for a, b in zip(predictions[name], same, strict=True))
            print(
                f"\n{name} / converse CPU: {best[name] / best['bedrock converse']:.2f}, "
                f"same prediction on {agree} of {len(same)} items"
            )
    ratio = best["bedrock converse"] / best["openai-compatible"]
    print(f"\nratio bedrock / openai-compatible: {ratio:.2f}")
    before = best["bedrock converse, botocore validation on (before)"]
    print(f"bedrock after / before: {best['bedrock converse'] / before:.2f}")
    if profile is not None:
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(key).print_stats(40)
            print(out.getvalue())


if __name__ == "__main__":
    main()
