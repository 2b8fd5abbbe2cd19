"""Judge overhead per item: what judging adds on our side (prompt, cache key and lookup/write,
strict parsing, counting, cost) against one plain model call, same run.

Emulator out of process (`python -m emulator`, no added latency), real boto3 Converse calls over
HTTP, one thread, the paths interleaved in blocks so drift on the shared machine hits them alike:
- plain model call: `Evaluator.call` of one item's prompt to an echo text deployment, no cache
  (the floor a judge call is compared with);
- judge call, end to end: one rubric judgement of an answer (prompt, call to the emulator's
  judge model, strict parse) through `Evaluator.call` with a SQLite answer cache (miss + write);
- judge from the cache: the same judgement answered by the warm cache (no model call);
- judge overhead only: the same judgement with the model call replaced by a ready answer
  (prompt, cache key, SQLite lookup miss and write, parse, JudgeTotals.add): our cost alone.
The cost computation (`JudgeTotals.result`, once per run) is timed apart.

Run: .venv/bin/python bench/bench_judge.py [--requests 600] [--block 50]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import interleaved, percentile  # noqa: E402
from devstack import free_port  # noqa: E402

TEXT = {"provider": "bedrock", "request_format": "converse", "output": {"type": "text"}}
MODEL = {"name": "m", "model_id": "arn:aws:bedrock:us-east-1:000000000000:provisioned-model/echo"}
JUDGE = {"name": "j", "model_id": "tunegate.judge-v1:0"}
INFERENCE = {"inference": {"max_tokens": 300, "temperature": 0}}


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--block", type=int, default=50)
    args = parser.parse_args()
    process, url = start_emulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            registry = Path(tmp) / "models.json"
            deployments = [{**MODEL, **TEXT, **INFERENCE}, {**JUDGE, **TEXT, **INFERENCE}]
            registry.write_text(json.dumps({"deployments": deployments}))
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
            run(args.requests, args.block)
    finally:
        process.terminate()
        process.wait()
    return 0


def run(requests: int, block: int) -> None:
    from chalicelib.config.registry import Deployment
    from chalicelib.evaluation.answers import Answer
    from chalicelib.evaluation.cache import CachedAnswer, SqliteCache
    from chalicelib.evaluation.datasets import Dataset
    from chalicelib.evaluation.judge import JudgeSpec, plan_judge
    from chalicelib.evaluation.judge_run import CallOutcome, Judge
    from chalicelib.evaluation.judge_stats import JudgeTotals
    from chalicelib.evaluation.runner import Evaluator, prompt_for
    from chalicelib.evaluation.scoring import Reference
    from chalicelib.serving.prompting import resolve_params
    from emulator.judge_model import judge_answer

    model = Deployment.model_validate({**MODEL, **TEXT, **INFERENCE})
    judge = Deployment.model_validate({**JUDGE, **TEXT, **INFERENCE})
    plan = plan_judge(JudgeSpec(model="j", mode="rubric"), judge, [model])
    runner = Judge(plan)
    records = [
        json.loads(line)
        for line in (ROOT / "examples/explain/explain.jsonl").read_text().splitlines()
    ]
    n = requests + 200  # distinct items, so no path hits a cache it should miss
    items = list(
        Dataset.from_records(
            "bench",
            [
                {**records[i % len(records)], "input": f"{records[i % len(records)]['input']} #{i}"}
                for i in range(n)
            ],
        ).items()
    )
    answers = [
        (Answer("m", "ok", Reference("match", None), output=f"{it.reference} ({it.index})"),)
        for it in items
    ]
    params = resolve_params(model.inference)
    ready = judge_answer(runner.prompts(items[0], answers[0])[0][1])
    ready_outcome = CallOutcome(CachedAnswer(ready, 400, 30), attempts=1, cached=False)

    with tempfile.TemporaryDirectory() as tmp:
        live_cache = SqliteCache(Path(tmp) / "live.sqlite")
        stub_cache = SqliteCache(Path(tmp) / "stub.sqlite")
        plain = Evaluator([model], concurrency=1)
        live = Evaluator([], concurrency=1, cache=live_cache, judge=runner)
        stubbed = Evaluator([], concurrency=1, cache=stub_cache, judge=runner)
        stubbed._call_with_retries = lambda *a: (  # type: ignore[method-assign]
            _completion(ready_outcome),
            0.0,
            1,
        )
        totals = JudgeTotals(["m"])
        counters = {name: itertools.count() for name in ("plain", "live", "cached", "stub")}
        hits: list[int] = []

        def plain_call() -> None:
            item = items[next(counters["plain"])]
            plain.call(model, prompt_for(model, item), params)

        def judge_live() -> None:
            i = next(counters["live"])
            totals.add(None, live.judge_item(items[i], answers[i]))
            hits.append(i)

        def judge_cached() -> None:
            i = hits[next(counters["cached"]) % len(hits)]
            totals.add(None, live.judge_item(items[i], answers[i]))

        def judge_stub() -> None:
            i = next(counters["stub"])
            totals.add(None, stubbed.judge_item(items[i], answers[i]))

        samples = interleaved(
            {
                "plain model call (HTTP)": plain_call,
                "judge call, end to end (HTTP)": judge_live,
                "judge from the cache": judge_cached,
                "judge overhead only (no model call)": judge_stub,
            },
            requests,
            block,
            warm=20,
        )
        started = time.perf_counter()
        result = totals.result(plan, resamples=1000)
        result_ms = (time.perf_counter() - started) * 1000
        live_cache.close()
        stub_cache.close()
    assert result["n_unreadable"] == result["n_error"] == 0, result
    assert (
        result["n_cached"] > 0 and plain.model_calls == len(samples["plain model call (HTTP)"]) + 20
    )
    floor = statistics.fmean(samples["plain model call (HTTP)"])
    print(f"{'path':38} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'vs plain call':>14}")
    for name, values in samples.items():
        mean = statistics.fmean(values)
        print(
            f"{name:38} {percentile(values, 50):8.3f} {percentile(values, 99):8.3f} "
            f"{mean:8.3f} {mean / floor:13.2f}x"
        )
    print(
        f"JudgeTotals.result (bootstrap, cost) once per run over {totals.items} items: "
        f"{result_ms:.1f} ms"
    )


def _completion(outcome: Any) -> Any:
    from chalicelib.formats import Completion

    answer = outcome.answer
    return Completion(
        text=answer.text, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens
    )


if __name__ == "__main__":
    raise SystemExit(main())
