"""`evaluate --processes`: items/s, client CPU and RSS of `python -m chalicelib.cli evaluate` with
1, 2 and `auto` processes on the emulator's reference classifier (out of process), concurrency
32, at 0 and 50 ms of model latency. Rows interleaved (1, 2, auto, 1, 2, auto, ...) on one
emulator per latency; the ratio is 2 processes' items/s over 1 process's, same run.

- items/s: items over the run's own `duration_seconds` (results.json: the evaluation, not the
  interpreter start or the dataset's validation pass); `wall s` is the whole command.
- client CPU: the CLI's user + system time with its reaped workers (os.wait4), per item.
- memory: the peak of the summed PSS of the CLI and its workers (forked workers share pages
  with the CLI: PSS counts a shared page once over the processes sharing it; RSS per process
  would count it in each), sampled every 20 ms.

Run: .venv/bin/python bench/bench_cli_processes.py [--items 4000] [--repeats 2]
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
from bench_runner import DEPLOYMENT, REFERENCE_ARN, cli_env, process_cpu_seconds, start_emulator  # noqa: E402

CONCURRENCY = 32
PROCESSES = ("1", "2", "auto")


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
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cli-processes-"))
    registry = workdir / "models.json"
    registry.write_text(json.dumps({"deployments": [{**DEPLOYMENT, "model_id": REFERENCE_ARN}]}))
    dataset = workdir / "items.jsonl"
    write_dataset(dataset, args.items)
    load_before = os.getloadavg()
    rows: dict[tuple[int, str], list[dict[str, float]]] = {}
    for latency in args.latency_ms:
        emulator, url = start_emulator(latency)
        env = cli_env(url, registry)
        try:
            for repeat in range(args.repeats):
                for processes in PROCESSES:
                    out = workdir / f"out-{latency}-{processes}-{repeat}"  # fresh: no cache hits
                    row = run_cli(dataset, out, processes, env, emulator.pid)
                    rows.setdefault((latency, processes), []).append(row)
        finally:
            emulator.terminate()
            emulator.wait()
    load_after = os.getloadavg()
    print(
        f"\nevaluate --processes, reference classifier, concurrency {CONCURRENCY}, "
        f"{args.items} items, medians of {args.repeats} interleaved runs, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after\n"
    )
    print(
        "| latency ms | processes | items/s | vs 1 process | ideal items/s | % of ideal | wall s "
        "| client CPU ms/item | emulator CPU ms/item | peak PSS MB (all processes) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for latency in args.latency_ms:
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
