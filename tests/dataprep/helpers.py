"""Shared helpers for the data-preparation tests: files in, the real command line, files out."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEPARATOR = "\n\n###\n\n"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it: `python -m chalicelib.cli ...`."""
    env = {**os.environ, "TUNEGATE_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_jsonl(path: Path, records: Iterable[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_table(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], delimiter: str = ","
) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_jsonl(path: Path) -> list[Any]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def norm(text: str) -> str:
    """The test's own normalisation (case-fold, collapse whitespace), independent of the code."""
    return " ".join(text.casefold().split())


def prompt_text(record: dict[str, Any]) -> str:
    """The review text inside a prepared record of either format."""
    if "prompt" in record:
        prompt = record["prompt"]
        assert prompt.endswith(SEPARATOR)
        return str(prompt[: -len(SEPARATOR)])
    return str(record["messages"][0]["content"])


def label_of(record: dict[str, Any]) -> str:
    if "completion" in record:
        return str(record["completion"]).strip()
    return str(record["messages"][-1]["content"])


def sample_rows(per_label: dict[str, int], seed: int = 0) -> list[tuple[str, str]]:
    """Distinct (text, label) rows: every text unique even after normalisation."""
    rows = []
    for label, count in per_label.items():
        for i in range(count):
            rows.append((f"review {label} number {i} seed {seed}: it was fine or not", label))
    return rows
