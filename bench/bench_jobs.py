"""A 10,000-item evaluation job on the local stack, end to end: the dataset in S3 (moto server),
`POST /v1/evaluations` through the app, the chunks run by the local worker (4 processes, like 4
concurrent Lambdas), the emulator answering after 50 ms. Wall time from submit to the final
status, against the ideal items x latency / (chunks in flight x concurrency per chunk), and the
workers' CPU per item: the model calls against the job machinery, step by step (the workers are
bench/jobs_probe.py, scripts/worker.py with each step timed).

moto and the emulator run as their own processes, so the 2 cores are shared the way a real
deployment would not share them: the efficiency is a floor, not a forecast.
Run: .venv/bin/python bench/bench_jobs.py [--items 10000] [--latency-ms 50] [--processes 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import KEY, REGISTRY  # noqa: E402
from devstack import free_port  # noqa: E402

WORKER_MEMORY_GB = 1.0  # .chalice/config.json: evaluation_worker lambda_memory_size 1024


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def process_cpu(pid: int) -> float:
    """A child's user + system CPU seconds so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_probes(folder: Path) -> dict[str, list[float]]:
    """The workers' timed phases (bench/jobs_probe.py), summed: phase -> [calls, wall, CPU]."""
    phases: dict[str, list[float]] = {}
    for path in folder.glob("*.json"):
        for phase, row in json.loads(path.read_text())["phases"].items():
            total = phases.setdefault(phase, [0, 0.0, 0.0])
            for i, value in enumerate(row):
                total[i] += value
    return phases


#: The job machinery's steps as bench/jobs_probe.py names them, in the order a chunk runs them.
MACHINERY = [
    "planner",
    "job reads",
    "chunk items from S3",
    "cache preload",
    "model-call phase",
    "successor message",
    "results to S3",
    "commit transaction",
    "cache discard",
    "finaliser",
    "handler",
]


def print_cpu(
    n: int, worker_cpu: float, phases: dict[str, list[float]], others: dict[str, float]
) -> None:
    """Worker CPU per item: the model calls against the job machinery, step by step."""
    ms = 1000 / n
    model = phases.get("model calls", [0, 0.0, 0.0])
    rows = {name: phases.get(name, [0, 0.0, 0.0]) for name in MACHINERY}
    # The model-call phase's process CPU includes the model calls made on the runner's threads.
    calls, wall, cpu_s = rows["model-call phase"]
    rows["model-call phase"] = [calls, wall, cpu_s - model[2]]
    machinery = sum(row[2] for row in rows.values())
    polling = worker_cpu - model[2] - machinery
    print(f"worker CPU per item      {worker_cpu * ms:.2f} ms ({worker_cpu:.1f} s in all)")
    print(f"  model calls            {model[2] * ms:.2f} ms (providers.complete: botocore + "
          f"provider code; {model[0]:.0f} calls)")  # fmt: skip
    print(f"  job machinery          {machinery * ms:.2f} ms")
    labels = {
        "model-call phase": "runner around the calls",
        "handler": "handler rest (record, logs, cache keys)",
    }
    for name, (calls, wall, cpu_s) in rows.items():
        if calls:
            print(f"    {labels.get(name, name):36} {cpu_s * ms:6.3f} ms CPU  "
                  f"{wall / calls * 1000:7.1f} ms wall per call ({calls:.0f} calls)")  # fmt: skip
    print(f"  local SQS polling      {polling * ms:.2f} ms (scripts/worker.py; on AWS the "
          "event source's)")  # fmt: skip
    print("other processes (CPU s): " + ", ".join(f"{k} {v:.1f}" for k, v in others.items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    moto_port, emu_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    (work / "models.json").write_text(json.dumps(REGISTRY))
    import hashlib

    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://127.0.0.1:{emu_port}",
        "STAGE": "bench",
        "MODELS_FILE": str(work / "models.json"),
        "API_KEY_HASHES": hashlib.sha256(KEY.encode()).hexdigest(),
        "FEEDBACK_TOKEN_SECRET": "bench",
        "INVOCATIONS_TABLE": "bench-invocations",
        "FEEDBACK_TABLE": "bench-feedback",
        "EVALUATIONS_TABLE": "bench-evaluations",
        "EVALUATION_QUEUE": "bench-chunks",
        "RESULTS_BUCKET": "bench-results",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    os.environ.update(env)
    python = sys.executable
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    children = [
        subprocess.Popen(
            [python, "-m", "devstack.moto_server", "-p", str(moto_port)], env=env, **quiet
        ),
        subprocess.Popen(
            [python, "-m", "emulator", "--port", str(emu_port), "--train-file", "",
             "--latency-ms", str(args.latency_ms)],
            cwd=ROOT, env=env, **quiet,
        ),
    ]  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{moto_port}/moto-api/")
        wait_for(f"http://127.0.0.1:{emu_port}/_emulator/health")
        subprocess.run([python, "-m", "chalicelib.cli", "bootstrap"], cwd=ROOT, env=env,
                       check=True, **quiet)  # fmt: skip
        import boto3

        lines = "".join(
            json.dumps({"prompt": f"review {i} positive\n\n###\n\n", "completion": " positive"})
            + "\n"
            for i in range(args.items)
        )
        boto3.client("s3").put_object(
            Bucket="bench-results", Key="datasets/bench.jsonl", Body=lines
        )
        from chalicelib.config.settings import get_settings

        cap = get_settings().jobs.max_concurrent_calls
        devnull = open(os.devnull, "w")  # noqa: SIM115 (the app's logs)
        stdout, sys.stdout = sys.stdout, devnull
        from chalice.test import Client

        import app as app_module

        with Client(app_module.app, stage_name="bench", project_dir=str(ROOT)) as client:
            probes = work / "probes"
            probes.mkdir()
            # One timed worker process per concurrent Lambda (bench/jobs_probe.py).
            workers = [
                subprocess.Popen(
                    [python, "bench/jobs_probe.py", "--processes", "1", "--wait-seconds", "1"],
                    cwd=ROOT, env={**env, "JOBS_PROBE_DIR": str(probes)}, **quiet,
                )
                for _ in range(args.processes)
            ]  # fmt: skip
            children.extend(workers)
            time.sleep(3)  # let the worker processes import and start polling
            cpu_before = {child.pid: process_cpu(child.pid) for child in children}
            own_before = time.process_time()
            load = os.getloadavg()
            body = {
                "models": ["bench"],
                "dataset": {"s3_uri": "s3://bench-results/datasets/bench.jsonl"},
            }
            started = time.perf_counter()
            response = client.http.post(
                "/v1/evaluations",
                headers={"x-api-key": KEY, "content-type": "application/json"},
                body=json.dumps(body),
            )
            assert response.status_code == 202, response.body
            evaluation_id = json.loads(response.body)["evaluation_id"]
            while True:
                job = json.loads(
                    client.http.get(
                        f"/v1/evaluations/{evaluation_id}", headers={"x-api-key": KEY}
                    ).body
                )
                if job["status"] not in ("queued", "running"):
                    break
                dead = [w.pid for w in workers if w.poll() is not None]
                if dead or time.perf_counter() - started > 600:
                    raise SystemExit(f"the job did not finish (worker processes exited: {dead})")
                time.sleep(0.2)
            wall = time.perf_counter() - started
            cpu = {child.pid: process_cpu(child.pid) - cpu_before[child.pid] for child in children}
            own = time.process_time() - own_before
        sys.stdout = stdout
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a loaded machine: moto still in a long poll
                child.kill()
                child.wait()
    ideal = args.items * args.latency_ms / 1000 / cap
    n = job["progress"]["done"]
    print(f"evaluation job: {args.items} items, 1 model, emulator latency {args.latency_ms} ms")
    print(f"{'status':24} {job['status']}")
    print(f"{'items counted (errors)':24} {n} ({job['progress']['errors']})")
    print(f"{'concurrency cap':24} {cap} calls (chunks in flight x calls per chunk)")
    print(f"{'ideal wall time':24} {ideal:.1f} s")
    print(f"{'measured wall time':24} {wall:.1f} s")
    print(f"{'efficiency':24} {ideal / wall:.0%}")
    from datetime import datetime

    created, started_at, finished = (
        datetime.fromisoformat(job[key]) for key in ("created_at", "started_at", "finished_at")
    )
    planning = (started_at - created).total_seconds()
    running = (finished - started_at).total_seconds()
    print(f"{'  planning (validate, split)':24} {planning:.1f} s")
    print(f"{'  chunks + finalising':24} {running:.1f} s ({ideal / running:.0%} of ideal)")
    busy_lambdas = min(args.processes, get_settings().jobs.chunks_in_flight)
    gb_seconds = WORKER_MEMORY_GB * busy_lambdas * wall / n * 1000
    print(f"{'implied Lambda cost':24} {gb_seconds:.1f} GB-s per 1,000 items "
          f"({busy_lambdas} x {WORKER_MEMORY_GB:g} GB busy for the wall time)")  # fmt: skip
    print(f"{'load average at submit':24} {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    worker_cpu = sum(cpu[w.pid] for w in workers)
    print_cpu(
        n,
        worker_cpu,
        read_probes(probes),
        {"moto": cpu[children[0].pid], "emulator": cpu[children[1].pid], "app + poller": own},
    )


if __name__ == "__main__":
    main()
