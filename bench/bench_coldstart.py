"""Cold start: a fresh process that imports `app` and serves its first invoke, against a bare
Chalice app that creates one boto3 client and does the same call (both against the emulator).

Run: .venv/bin/python bench/bench_coldstart.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_gateway import ECHO_ARN, KEY, REGISTRY  # noqa: E402
from devstack import start_local_stack  # noqa: E402

# The app as Lambda with `Tracing: Active` runs it: the X-Ray SDK is imported and botocore
# patched; segments go to a UDP port nobody reads (sending costs the same).
LAMBDA_TRACING = {
    "LAMBDA_TASK_ROOT": str(ROOT),
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
    "Sampled=1",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
}
LABELS = {
    "bare": "bare Chalice + one boto3 client",
    "tunegate": "tunegate app",
    "traced": "tunegate app, X-Ray tracing on",
}


def run_once(kind: str, env: dict[str, str]) -> tuple[float, float]:
    if kind == "traced":
        kind, env = "tunegate", {**env, **LAMBDA_TRACING}
    """(ms inside the process from first line to response, ms of the whole process)."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "frozen_modules=on",
            str(ROOT / "bench" / "coldstart_child.py"),
            kind,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    whole = (time.perf_counter() - started) * 1000
    return float(result.stdout.strip().splitlines()[-1]), whole


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sys.stdout, out = open(os.devnull, "w"), sys.stdout  # noqa: SIM115
    stack = start_local_stack(REGISTRY, api_key=KEY, train_file=None)
    sys.stdout = out
    env = {**os.environ, "BENCH_KEY": KEY, "BENCH_MODEL_ID": ECHO_ARN}
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in LABELS}
    for kind in results:
        run_once(kind, env)  # warm the OS file cache
    for _ in range(args.runs):
        for kind in results:
            results[kind].append(run_once(kind, env))
    stack.stop()
    print(f"cold start: import + first invoke, {args.runs} fresh processes each (median)")
    print(f"{'app':34} {'in-process ms':>14} {'whole process ms':>17}")
    medians = {}
    for kind, runs in results.items():
        inner = statistics.median(r[0] for r in runs)
        whole = statistics.median(r[1] for r in runs)
        medians[kind] = (inner, whole)
        print(f"{LABELS[kind]:34} {inner:14.1f} {whole:17.1f}")
    for kind in ("tunegate", "traced"):
        print(
            f"ratio {kind}/bare: in-process {medians[kind][0] / medians['bare'][0]:.2f}, "
            f"whole process {medians[kind][1] / medians['bare'][1]:.2f}"
        )


if __name__ == "__main__":
    main()
