"""Runner throughput: items per second against the Bedrock emulator (run out of process, 50 ms
model latency) at concurrency 32, against the ideal 32 / 0.05 s = 640/s and against a
one-at-a-time loop (how lm-evaluation-harness calls API models by default), same run.

Runner rows are the CLI's engine minus the files: Evaluator.run + EvaluationTotals.add + the
SQLite answer cache written per answer, real boto3 Converse calls over HTTP. The target row uses
an echo model; a last row repeats it on the reference classifier, whose own CPU cost makes the
(single-process, GIL-bound) emulator the bottleneck on a small machine: the CPU columns show
where the time goes. Each row gets a fresh emulator so its CPU is measured alone.

bench_lmeval.py repeats the target row (concurrency 32, echo model, 50 ms) on its one emulator
next to lm-eval's `local-chat-completions` and the `evaluate` CLI, so "≥ 90% of ideal" and
"≥ 1.0× lm-eval's items/s" are read from the same run; it imports the helpers below.

Run: .venv/bin/python bench/bench_runner.py [--items 5000] [--sequential 200] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import free_port  # noqa: E402

REFERENCE_ARN = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/tgdrugreview1"
ECHO_ARN = "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/echo-bench"
DEPLOYMENT = {
    "name": "bench",
    "provider": "bedrock",
    "model_id": ECHO_ARN,
    "request_format": "converse",
    "prompt": {"system": "Classify the sentiment of this drug review."},
    "inference": {"max_tokens": 5, "temperature": 0, "stop": ["\n"]},
    "output": {"type": "label", "labels": ["negative", "neutral", "positive"]},
}


def start_emulator(latency_ms: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(port), "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_emulator/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the emulator did not start")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cli_env(url: str, registry: Path, **extra: str) -> dict[str, str]:
    """The environment of a `python -m chalicelib.cli evaluate` child on the emulator at `url`
    with the deployments in `registry`, no progress bar, plus `extra`."""
    return {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
        "MODELS_FILE": str(registry),
        "TUNEGATE_PROGRESS": "0",
        **extra,
    }


def configure(url: str, workdir: Path) -> None:
    from chalicelib import aws

    registry = workdir / "models.json"
    registry.write_text(json.dumps({"deployments": [DEPLOYMENT]}))
    aws.reset_clients()
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
            "MODELS_FILE": str(registry),
            "API_KEY_HASHES": "0" * 64,
            "FEEDBACK_TOKEN_SECRET": "bench",
        }
    )


def synthetic_items(n: int) -> list[object]:
    from chalicelib.evaluation.datasets import Dataset

    texts = [
        json.loads(line)["prompt"]
        for line in (ROOT / "examples/drugreview/openai/test.jsonl").read_text().splitlines()
    ]
    labels = ["negative", "neutral", "positive"]
    records = [
        {"input": f"{texts[i % len(texts)]} (#{i})", "target": labels[i % 3]} for i in range(n)
    ]
    return list(Dataset.from_records("synthetic", records).items())


def run_sequential(items: list[object], model_id: str) -> float:
    from chalicelib.config.registry import Deployment
    from chalicelib.evaluation.runner import prompt_for
    from chalicelib.providers import complete
    from chalicelib.serving.prompting import resolve_params

    deployment = Deployment.model_validate({**DEPLOYMENT, "model_id": model_id})
    params = resolve_params(deployment.inference)
    started = time.perf_counter()
    for item in items:
        complete(deployment, prompt_for(deployment, item), params)  # type: ignore[arg-type]
    return time.perf_counter() - started


def run_runner(
    items: list[object], concurrency: int, workdir: Path, model_id: str
) -> tuple[float, int]:
    from chalicelib.config.registry import Deployment
    from chalicelib.evaluation.cache import SqliteCache
    from chalicelib.evaluation.runner import Evaluator
    from chalicelib.evaluation.totals import EvaluationTotals

    deployment = Deployment.model_validate({**DEPLOYMENT, "model_id": model_id})
    path = workdir / f"cache-{concurrency}-{len(items)}.sqlite"
    with SqliteCache(path) as cache:
        evaluator = Evaluator([deployment], concurrency=concurrency, cache=cache)
        totals = EvaluationTotals(["bench"])
        started = time.perf_counter()
        for result in evaluator.run(items):  # type: ignore[arg-type]
            totals.add(result)
        seconds = time.perf_counter() - started
    totals.results()
    return seconds, totals.n_items_with_errors


def measure(
    name: str, items: list[object], concurrency: int, model_id: str, latency_ms: int, workdir: Path
) -> dict[str, object]:
    """One row: a fresh emulator, a warm-up, then the timed run and both processes' CPU."""
    emulator, url = start_emulator(latency_ms)
    try:
        configure(url, workdir)
        run_sequential(items[:20], model_id)  # connections, imports, first-call costs
        timed = items[20:]
        cpu, emulator_cpu = cpu_seconds(), process_cpu_seconds(emulator.pid)
        if concurrency == 0:
            seconds, errors = run_sequential(timed, model_id), 0
        else:
            seconds, errors = run_runner(timed, concurrency, workdir, model_id)
        cpu = cpu_seconds() - cpu
        emulator_cpu = process_cpu_seconds(emulator.pid) - emulator_cpu
    finally:
        emulator.terminate()
        emulator.wait()
    return {
        "name": name,
        "concurrency": max(concurrency, 1),
        "n": len(timed),
        "seconds": seconds,
        "errors": errors,
        "cpu_ms": cpu / len(timed) * 1000,
        "emulator_cpu_ms": emulator_cpu / len(timed) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    latency = args.latency_ms / 1000
    items = synthetic_items(args.items + 20)
    c = args.concurrency
    plan = [
        ("one at a time: loop of complete(), echo model", 0, args.sequential, ECHO_ARN),
        ("runner, concurrency 8, echo model", 8, min(args.items, 2000), ECHO_ARN),
        (f"runner, concurrency {c}, echo model", c, args.items, ECHO_ARN),
        (f"runner, concurrency {c}, reference classifier", c, args.items, REFERENCE_ARN),
    ]
    rows = [
        measure(name, items[: n + 20], conc, model, args.latency_ms, workdir)
        for name, conc, n, model in plan
    ]
    baseline = float(rows[0]["n"]) / float(rows[0]["seconds"])  # type: ignore[arg-type]
    print(
        f"\nRunner throughput, emulator latency {args.latency_ms} ms (out of process), "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| what | items | seconds | items/s | ideal items/s | % of ideal | vs one at a time "
        "| our CPU ms/item | emulator CPU ms/call |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        n, seconds = float(row["n"]), float(row["seconds"])  # type: ignore[arg-type]
        rate = n / seconds
        ideal = float(row["concurrency"]) / latency  # type: ignore[arg-type]
        note = f" ({row['errors']} errors)" if row["errors"] else ""
        print(
            f"| {row['name']}{note} | {int(n)} | {seconds:.2f} | {rate:.1f} | {ideal:.0f} | "
            f"{rate / ideal * 100:.1f}% | {rate / baseline:.1f}x | {row['cpu_ms']:.2f} | "
            f"{row['emulator_cpu_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
