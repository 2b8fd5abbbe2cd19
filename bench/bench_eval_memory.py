"""Evaluation memory: peak RSS of `python -m chalicelib.cli evaluate` on 100,000 synthetic items
(the reference classifier on the emulator, out of process, no added latency), against the same
command on 1,000 items in the same run: a flat ratio means memory does not grow with the data.

Peak RSS of each CLI process is its own `ru_maxrss` (os.wait4 on that child only).

Run: .venv/bin/python bench/bench_eval_memory.py [--items 100000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_runner import DEPLOYMENT, REFERENCE_ARN, cli_env, start_emulator  # noqa: E402

TARGET_MB = 200
_VOCABULARY = (
    "the tablet helped my pain but i felt dizzy and tired after two weeks doctor switched dose "
    "great relief no side effects at all terrible nausea stopped taking it works slowly sleep"
)
WORDS = _VOCABULARY.split(" ")


def write_dataset(path: Path, n: int, seed: int = 1) -> None:
    """{input, target, category} lines of ~40 random words each (~230 bytes of text)."""
    rng = random.Random(seed)
    labels = ["negative", "neutral", "positive"]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            record = {
                "input": " ".join(rng.choices(WORDS, k=40)) + f" #{i}",
                "target": rng.choice(labels),
                "category": f"c{i % 7}",
            }
            handle.write(json.dumps(record) + "\n")


def run_cli(dataset: Path, out: Path, concurrency: int, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one evaluate run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chalicelib.cli",
            "evaluate",
            "--model",
            "bench",
            "--dataset",
            str(dataset),
            "--out",
            str(out),
            "--concurrency",
            str(concurrency),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"evaluate failed ({process.returncode}):\n{output.decode()}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-eval-memory-"))
    registry = workdir / "models.json"
    registry.write_text(json.dumps({"deployments": [{**DEPLOYMENT, "model_id": REFERENCE_ARN}]}))
    emulator, url = start_emulator(0)
    rows = []
    try:
        env = cli_env(url, registry)
        for n in (args.baseline_items, args.items):
            dataset = workdir / f"items-{n}.jsonl"
            write_dataset(dataset, n)
            seconds, rss = run_cli(dataset, workdir / f"out-{n}", args.concurrency, env)
            results = json.loads((workdir / f"out-{n}" / "results.json").read_text())
            items_mb = (workdir / f"out-{n}" / "items.jsonl").stat().st_size / 1e6
            rows.append((n, seconds, rss, results["meta"]["n_items"], items_mb))
    finally:
        emulator.terminate()
        emulator.wait()
    base_rss = rows[0][2]
    print(f"\nevaluate CLI peak RSS, concurrency {args.concurrency}, {os.cpu_count()} CPUs\n")
    print(
        "| items | seconds | items/s | items.jsonl MB | peak RSS MB | vs 1,000 items "
        f"| target ≤ {TARGET_MB} MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for n, seconds, rss, done, items_mb in rows:
        assert done == n
        verdict = "yes" if rss <= TARGET_MB else "NO"
        print(
            f"| {n:,} | {seconds:.1f} | {n / seconds:.0f} | {items_mb:.1f} | {rss:.1f} | "
            f"{rss / base_rss:.2f}x | {verdict} |"
        )


if __name__ == "__main__":
    main()
