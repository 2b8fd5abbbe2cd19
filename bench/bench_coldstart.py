"""Cold start: a fresh process imports the app and serves its first invoke, against a bare
Chalice app that creates one boto3 client and makes the same call (both against the emulator).

Measured as Lambda runs them: each app packaged by `chalice package` (Tunegate as `make package`
builds it, vendor/ and bytecode included), unzipped into a read-only directory, run with
`python -I -S -B` and only the bundle plus the runtime's boto3 on the path. The bundle rows
without bytecode show what shipping source alone costs; the source-checkout rows (with the
checkout's __pycache__) are kept for comparison with earlier figures.

Run: .venv/bin/python bench/bench_coldstart.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ECHO_ARN, KEY, REGISTRY  # noqa: E402
from devstack import start_local_stack  # noqa: E402
from devstack.lambda_bytecode import add_bytecode, runtime_of  # noqa: E402
from devstack.lambda_task import LAMBDA_FLAGS, runtime_dir, set_writable, unpack_read_only  # noqa: E402
from devstack.lambda_vendor import vendor_lambda_dependencies  # noqa: E402

CHILD = ROOT / "bench" / "coldstart_child.py"
# The app as Lambda with `Tracing: Active` runs it: the X-Ray SDK is imported and botocore
# patched; segments go to a UDP port nobody reads (sending costs the same).
TRACE = {
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
    "Sampled=1",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
}
# name: (label, app, bundle or None for the source checkout, X-Ray tracing on)
RUNS = {
    "bare-src": ("source: bare Chalice + one boto3 client", "bare", None, False),
    "tunegate-src": ("source: tunegate app", "tunegate", None, False),
    "traced-src": ("source: tunegate app, X-Ray on", "tunegate", None, True),
    "bare-py": ("bundle: bare, source only", "bare", "bare-py", False),
    "tunegate-py": ("bundle: tunegate, source only (before)", "tunegate", "tunegate-py", False),
    "bare": ("bundle: bare, with bytecode", "bare", "bare", False),
    "tunegate": ("bundle: tunegate, with bytecode", "tunegate", "tunegate", False),
    "traced": ("bundle: tunegate + bytecode, X-Ray on", "tunegate", "tunegate", True),
}
BARE_CONFIG = {
    "version": "2.0",
    "app_name": "bare",
    "autogen_policy": False,
    "stages": {"prod": {}},
}
BARE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*"}],
}


def chalice_package(project: Path, out: Path) -> Path:
    """`chalice package` as `make package` runs it (no AWS calls); returns the zip."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "package", "--stage", "prod", str(out)]
    subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
    return out / "deployment.zip"


def build_tasks(work: Path) -> dict[str, Path]:
    """Both apps packaged, each with and without bytecode, unzipped read-only."""
    bare = work / "bare-project"
    (bare / ".chalice").mkdir(parents=True)
    shutil.copy(ROOT / "bench" / "bare_app" / "app.py", bare / "app.py")
    (bare / ".chalice" / "config.json").write_text(json.dumps(BARE_CONFIG))
    (bare / ".chalice" / "policy-prod.json").write_text(json.dumps(BARE_POLICY))
    (bare / "requirements.txt").write_text("")
    vendor_lambda_dependencies()
    tasks = {}
    for name, project in (("tunegate", ROOT), ("bare", bare)):
        bundle = chalice_package(project, work / f"{name}-out")
        tasks[f"{name}-py"] = unpack_read_only(bundle, work / f"{name}-py")
        add_bytecode(bundle, runtime_of(bundle.parent / "sam.json"))
        tasks[name] = unpack_read_only(bundle, work / name)
    return tasks


def run_once(run: str, env: dict[str, str], tasks: dict[str, Path], runtime: Path) -> list[float]:
    """[ms to import, ms to import + first response (both in-process wall time), CPU ms of the
    process up to the response, ms of the whole process]."""
    _, app, bundle, traced = RUNS[run]
    if bundle is None:
        command = [sys.executable, "-X", "frozen_modules=on", str(CHILD), app]
        cwd, task_root = ROOT, ROOT
    else:
        task = tasks[bundle]
        command = [sys.executable, *LAMBDA_FLAGS, str(CHILD), app, str(task), str(runtime)]
        cwd, task_root = task, task
    if traced:
        env = {**env, **TRACE, "LAMBDA_TASK_ROOT": str(task_root)}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    whole = (time.perf_counter() - started) * 1000
    imported, served, cpu = map(float, result.stdout.strip().splitlines()[-1].split())
    return [imported, served, cpu, whole]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    tasks = build_tasks(work)
    runtime = runtime_dir(work)
    sys.stdout, out = open(os.devnull, "w"), sys.stdout  # noqa: SIM115
    stack = start_local_stack(REGISTRY, api_key=KEY, train_file=None)
    sys.stdout = out
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    env = {**os.environ, "BENCH_KEY": KEY, "BENCH_MODEL_ID": ECHO_ARN}
    env.pop("LAMBDA_TASK_ROOT", None)
    load_before = os.getloadavg()
    results: dict[str, list[list[float]]] = {run: [] for run in RUNS}
    try:
        for run in RUNS:
            run_once(run, env, tasks, runtime)  # warm the OS file cache
        for _ in range(args.runs):
            for run in RUNS:
                results[run].append(run_once(run, env, tasks, runtime))
    finally:
        stack.stop()
        for task in tasks.values():
            set_writable(task, writable=True)
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    print(f"cold start: import + first invoke, {args.runs} fresh processes each (median)")
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    header = f"{'run':40} {'import ms':>10} {'+ invoke ms':>12} {'CPU ms':>7} {'process ms':>11}"
    print(header)
    medians = {}
    for run, samples in results.items():
        medians[run] = [statistics.median(s[i] for s in samples) for i in range(4)]
        imported, served, cpu, whole = medians[run]
        print(f"{RUNS[run][0]:40} {imported:10.1f} {served:12.1f} {cpu:7.1f} {whole:11.1f}")
    for run, base in (
        ("tunegate", "bare"),
        ("traced", "bare"),
        ("tunegate-py", "bare-py"),
        ("tunegate-src", "bare-src"),
        ("traced-src", "bare-src"),
    ):
        served, cpu, whole = (medians[run][i] / medians[base][i] for i in (1, 2, 3))
        print(f"ratio {run}/{base}: in-process {served:.2f}, CPU {cpu:.2f}, process {whole:.2f}")
    for run in ("tunegate", "bare"):
        first = medians[run][1] - medians[run][0]
        print(f"{run} bundle, first invoke after import (not in a SnapStart snapshot): {first:.1f}")


if __name__ == "__main__":
    main()
