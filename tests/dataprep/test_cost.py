"""estimate-cost: arithmetic checked against numbers computed here from the file itself."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.dataprep.helpers import SEPARATOR, run_cli, write_jsonl


def _records() -> list[dict[str, str]]:
    texts = ["short", "a somewhat longer review text", "x" * 1001, "ünïcödé counts as characters"]
    return [{"prompt": t + SEPARATOR, "completion": " positive"} for t in texts]


def test_cost_json_matches_independent_arithmetic(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", _records())
    tokens = sum(math.ceil((len(r["prompt"]) + len(r["completion"])) / 4) for r in _records())
    result = run_cli(
        "estimate-cost", path, "--epochs", "3", "--price-per-1k-tokens", "0.008",
        "--storage-month-usd", "1.95", "--model-unit-hour-usd", "20.5",
        "--model-units", "2", "--hours", "24", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cost = json.loads(result.stdout)
    assert cost["records"] == 4
    assert cost["training_tokens"] == tokens
    assert math.isclose(cost["training_usd"], tokens * 3 * 0.008 / 1000)
    assert math.isclose(cost["provisioned_throughput"]["usd"], 24 * 2 * 20.5)
    assert math.isclose(cost["total_usd"], tokens * 3 * 0.008 / 1000 + 1.95 + 24 * 2 * 20.5)


def test_cost_table_for_bedrock_file(tmp_path: Path) -> None:
    record = {
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "hi"},
        ],
    }
    path = write_jsonl(tmp_path / "train.jsonl", [record] * 10)
    tokens = 10 * math.ceil(len("Be brief." + "hello there" + "hi") / 4)
    result = run_cli("estimate-cost", path, "--epochs", "2", "--price-per-1k-tokens", "1000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    training = next(line for line in lines if line.startswith("training"))
    assert f"{tokens:,} tokens x 2 epochs" in training
    assert training.split()[-1] == f"{tokens * 2 * 1000 / 1000:,.2f}"
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[-1] == f"{tokens * 2:,.2f}"
    assert "provisioned" not in result.stdout


def test_cost_flags_must_come_together_and_file_must_be_readable(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", _records())
    partial = run_cli(
        "estimate-cost", path, "--epochs", "1", "--price-per-1k-tokens", "1", "--hours", "5"
    )
    assert partial.returncode == 2 and "go together" in partial.stderr
    negative = run_cli("estimate-cost", path, "--epochs", "1", "--price-per-1k-tokens", "-1")
    assert negative.returncode == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": " b"}\n{"input": "x", "target": "y"}\n')
    wrong = run_cli("estimate-cost", bad, "--epochs", "1", "--price-per-1k-tokens", "1")
    assert wrong.returncode == 2 and "bad.jsonl:2: not a fine-tuning record" in wrong.stderr
