"""bench_jobs.py's worker process: scripts/worker.py with the job steps timed (bench only; the
product has no timing code). Each step's wall and process CPU time is summed per phase; the
model calls themselves (`providers.complete`, on the runner's threads) are timed with the
calling thread's CPU clock, so "model calls" is botocore + the provider code and everything
else the worker spends is the job machinery's. At exit the sums go to `$JOBS_PROBE_DIR/<pid>.json`.

  python bench/jobs_probe.py <scripts/worker.py arguments>   (one process: --processes 1)
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: phase -> [calls, wall s, process CPU s]
PHASES: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
_LOCK = threading.Lock()
_STACK = threading.local()


def timed(phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its wall and process CPU time added to `phase`, exclusive of the timed
    phases it calls on the same thread (a job read inside the finaliser is a job read)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack: list[list[float]] = _STACK.__dict__.setdefault("frames", [])
        inner = [0.0, 0.0]  # wall, CPU of the timed phases called from here
        stack.append(inner)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            stack.pop()
            if stack:
                stack[-1][0] += wall
                stack[-1][1] += cpu
            with _LOCK:
                row = PHASES[phase]
                row[0] += 1
                row[1] += wall - inner[0]
                row[2] += cpu - inner[1]

    return wrapper


def thread_timed(phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with the calling thread's CPU time added to `phase` (it runs concurrently on
    the runner's threads: process CPU would count its neighbours too)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            with _LOCK:
                row = PHASES[phase]
                row[0] += 1
                row[1] += wall
                row[2] += cpu

    return wrapper


def install() -> None:
    from chalicelib.evaluation import runner
    from chalicelib.jobs import finalizer, objects, queue, worker
    from chalicelib.storage import jobs as store

    runner.complete = thread_timed("model calls", runner.complete)  # type: ignore[assignment]
    worker.handle_event = timed("handler", worker.handle_event)  # type: ignore[assignment]
    worker.evaluate_chunk = timed("model-call phase", worker.evaluate_chunk)  # type: ignore[assignment]
    worker.handle_plan = timed("planner", worker.handle_plan)  # type: ignore[assignment]
    worker.finalize = timed("finaliser", worker.finalize)  # type: ignore[assignment]
    del finalizer
    methods = [
        (store.DynamoJobStore, "get", "job reads"),
        (store.DynamoJobStore, "get_chunk", "job reads"),
        (store.DynamoJobStore, "get_with_chunk", "job reads"),
        (store.DynamoJobStore, "commit_chunk", "commit transaction"),
        (store.DynamoAnswerCache, "preload", "cache preload"),
        (store.DynamoAnswerCache, "discard", "cache discard"),
        (objects.JobObjects, "get_input", "chunk items from S3"),
        (objects.JobObjects, "put_chunk", "results to S3"),
        (queue.JobQueue, "send", "successor message"),
    ]
    for cls, name, phase in methods:
        if hasattr(cls, name):  # a step the code under test no longer has is not timed
            setattr(cls, name, timed(phase, getattr(cls, name)))
    atexit.register(dump)


def dump() -> None:
    folder = os.environ.get("JOBS_PROBE_DIR")
    if not folder:
        return
    with _LOCK:
        data = {"phases": dict(PHASES), "cpu": time.process_time()}
    Path(folder, f"{os.getpid()}.json").write_text(json.dumps(data))


if __name__ == "__main__":
    install()
    from scripts.worker import main

    code = main(sys.argv[1:])
    dump()
    sys.exit(code)
