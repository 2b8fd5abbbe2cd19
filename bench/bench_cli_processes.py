"""`evaluate --processes`: items/s, client CPU and RSS of `python -m chalicelib.cli evaluate` with
1, 2 and `auto` processes on the emulator (out of process), concurrency 32, at 0 and 50 ms of
model latency, for the reference classifier (~2 ms of emulator CPU per call: the emulator is the
bottleneck on 2 cores) and the echo model (~0.5 ms: the client is). Rows interleaved (1, 2, auto,
1, 2, auto, ...) on one emulator per model and latency; the ratio is 2 processes' items/s over
1 process's, same run.

- items/s: items over the run's own `duration_seconds` (results.json: the evaluation, not the
  interpreter start or the dataset's validation pass); `wall s` is the whole command.
- client CPU: the CLI's user + system time with its reaped workers (os.wait4), per item.
- memory: the peak of the summed PSS of the CLI and its workers (forked workers share pages
  with the CLI: PSS counts a shared page once over the processes sharing it; RSS per process
  would count it in each), sampled every 20 ms.

Run: .venv/bin/python bench/bench_cli_processes.py [--items 4000] [--repeats 2]
     [--model reference echo] [--latency-ms 0 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_eval_memory import write_dataset  # noqa: E402
from bench_runner import (  # noqa: E402
    DEPLOYMENT,
    ECHO_ARN,
    REFERENCE_ARN,
    cli_env,
    process_cpu_seconds,
    start_emulator,
)

CONCURRENCY = 32
PROCESSES = ("1", "2", "auto")
MODELS = {"reference": REFERENCE_ARN, "echo": ECHO_ARN}


def tree_pss_mb(pid: int) -> float:
    """PSS of `pid` and its direct children (the workers), in MB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if entry.name != str(pid) and int(stat.rsplit(")", 1)[1].split()[1]) != pid:
                continue
            status = (entry / "smaps_rollup").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total / 1024


def run_cli(
    dataset: Path, out: Path, processes: str, env: dict[str, str], emulator_pid: int
) -> dict[str, float]:
    emulator_cpu = process_cpu_seconds(emulator_pid)
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "chalicelib.cli", "evaluate", "--model", "bench"),
            *("--dataset", str(dataset), "--out", str(out)),
            *("--concurrency", str(CONCURRENCY), "--processes", processes),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    peak = [0.0]
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(0.02):
            peak[0] = max(peak[0], tree_pss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    finished.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"evaluate failed:\n{output.decode()}")
    meta = json.loads((out / "results.json").read_text())["meta"]
    n = meta["n_items"]
    return {
        "n": n,
        "items_per_s": n / meta["duration_seconds"],
        "wall": wall,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) / n * 1000,
        "emulator_cpu_ms": (process_cpu_seconds(emulator_pid) - emulator_cpu) / n * 1000,
        "pss_mb": peak[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50])
    parser.add_argument("--model", choices=sorted(MODELS), nargs="+", default=["reference", "echo"])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cli-processes-"))
    dataset = workdir / "items.jsonl"
    write_dataset(dataset, args.items)
    for model in args.model:
        registry = workdir / f"models-{model}.json"
        deployment = {**DEPLOYMENT, "model_id": MODELS[model]}
        registry.write_text(json.dumps({"deployments": [deployment]}))
        measure(model, registry, dataset, workdir, args.latency_ms, args.repeats)


def measure(
    model: str, registry: Path, dataset: Path, workdir: Path, latencies: list[int], repeats: int
) -> None:
    """Run and print one table: `model` at each latency, every process count `repeats` times."""
    load_before = os.getloadavg()
    rows: dict[tuple[int, str], list[dict[str, float]]] = {}
    for latency in latencies:
        emulator, url = start_emulator(latency)
        env = cli_env(url, registry)
        try:
            for repeat in range(repeats):
                for processes in PROCESSES:
                    out = workdir / f"out-{model}-{latency}-{processes}-{repeat}"  # no cache hits
                    row = run_cli(dataset, out, processes, env, emulator.pid)
                    rows.setdefault((latency, processes), []).append(row)
        finally:
            emulator.terminate()
            emulator.wait()
    load_after = os.getloadavg()
    n_items = int(next(iter(rows.values()))[0]["n"])
    print(
        f"\nevaluate --processes, {model} model, concurrency {CONCURRENCY}, "
        f"{n_items} items, medians of {repeats} interleaved runs, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after\n"
    )
    print(
        "| latency ms | processes | items/s | vs 1 process | ideal items/s | % of ideal | wall s "
        "| client CPU ms/item | emulator CPU ms/item | peak PSS MB (all processes) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for latency in latencies:
        base = median(r["items_per_s"] for r in rows[(latency, "1")])
        for processes in PROCESSES:
            runs = rows[(latency, processes)]
            rate = median(r["items_per_s"] for r in runs)
            ideal = CONCURRENCY / (latency / 1000) if latency else None
            shown_ideal = f"{ideal:.0f}" if ideal else "-"
            share = f"{rate / ideal * 100:.1f}%" if ideal else "-"
            print(
                f"| {latency} | {processes} | {rate:.0f} | {rate / base:.2f}x | {shown_ideal} "
                f"| {share} | {median(r['wall'] for r in runs):.1f} "
                f"| {median(r['cpu_ms'] for r in runs):.2f} "
                f"| {median(r['emulator_cpu_ms'] for r in runs):.2f} "
                f"| {max(r['pss_mb'] for r in runs):.0f} |"
            )


if __name__ == "__main__":
    main()
