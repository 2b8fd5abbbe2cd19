"""Benchmark `prepare` against the seed's pandas recipe on 200,000 generated rows.

Run: .venv/bin/python bench/bench_prepare.py [--rows N] [--repeat K]

Both run as child processes (interpreter start-up and imports included, as a user sees it);
wall time and peak RSS (ru_maxrss from os.wait4 on that child alone) are measured in this run.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("negative", "neutral", "positive")
_VOCABULARY = """
the pill helped my pain a lot but side effects were headache nausea and dizziness
after two weeks I felt better sleep improved doctor changed dose anxiety went away
would not recommend this medication works great for me no weight gain acne cleared
"""
WORDS = tuple(_VOCABULARY.split())

PANDAS_RECIPE = """
import sys
import pandas as pd
src, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(src)
df["prompt"] = df["text"] + "\\n\\n###\\n\\n"
df["completion"] = " " + df["label"]
df = df.drop_duplicates(subset="prompt")
df = df.sample(frac=1, random_state=42)
df[["prompt", "completion"]].to_json(out, orient="records", lines=True)
"""


def generate(path: Path, rows: int, seed: int = 7) -> tuple[int, int]:
    """`rows` rows, 10% of them duplicates (half exact copies, half case/space variants)."""
    rng = random.Random(seed)
    unique = rows - rows // 10
    texts, labels = [], []
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for i in range(unique):
            words = rng.choices(WORDS, k=rng.randint(20, 90))
            text = f"Review {i}: " + " ".join(words) + "."
            texts.append(text)
            labels.append(LABELS[rng.randrange(3)] if i % 5 else "positive")
            writer.writerow([i, text, labels[-1]])
        for j in range(rows - unique):
            k = rng.randrange(unique)
            text = texts[k] if j % 2 else texts[k].upper().replace(" ", "  ", 3)
            writer.writerow([unique + j, text, labels[k]])
    return unique, rows - unique


def _lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def run(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB) of one child process."""
    env = {**os.environ, "TUNEGATE_PROGRESS": "0"}
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed with {child.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-prepare-"))
    try:
        source = work / "rows.csv"
        unique, dupes = generate(source, args.rows)
        size_mb = source.stat().st_size / 1e6
        ours_cmd = [
            sys.executable, "-m", "chalicelib.cli", "prepare", str(source),
            "--text-column", "text", "--label-column", "label", "--format", "openai",
            "--out", str(work / "ours"), "--seed", "42", "--force",
        ]  # fmt: skip
        pandas_cmd = [sys.executable, "-c", PANDAS_RECIPE, str(source), str(work / "pandas.jsonl")]
        startup_cmd = [sys.executable, "-m", "chalicelib.cli", "--help"]
        results: dict[str, list[tuple[float, float, float]]] = {
            "ours": [],
            "pandas": [],
            "startup": [],
        }
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits both
            results["ours"].append(run(ours_cmd))
            results["pandas"].append(run(pandas_cmd))
            results["startup"].append(run(startup_cmd))
        written = sum(_lines(work / "ours" / f"{s}.jsonl") for s in ("train", "validation", "test"))
        pandas_rows = _lines(work / "pandas.jsonl")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    wall = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in results.items()}
    peak = {k: max(r[2] for r in v) for k, v in results.items()}
    print(
        f"prepare benchmark: {args.rows:,} rows ({size_mb:.1f} MB CSV), {dupes:,} duplicates "
        f"(half exact, half case/whitespace variants); median of {args.repeat} runs"
    )
    print(f"{'':<22} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'rows out':>9}")
    for key, name, rows in (
        ("ours", "tunegate prepare", written),
        ("pandas", "pandas recipe", pandas_rows),
    ):
        print(f"{name:<22} {wall[key]:>7.2f} {cpu[key]:>7.2f} {peak[key]:>8.0f} {rows:>9,}")
    print(
        f"{'ratio ours/pandas':<22} {wall['ours'] / wall['pandas']:>7.2f} "
        f"{cpu['ours'] / cpu['pandas']:>7.2f} {peak['ours'] / peak['pandas']:>8.2f}"
    )
    print(
        f"{'(cli start-up alone)':<22} {wall['startup']:>7.2f} {cpu['startup']:>7.2f} "
        f"{peak['startup']:>8.0f}   (python -m chalicelib.cli --help, part of ours)"
    )
    print(f"targets: wall ratio <= 1.00 and peak <= 300 MB (ours: {peak['ours']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
