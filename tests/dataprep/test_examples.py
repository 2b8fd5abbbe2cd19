"""The committed drug-review files are exactly what prepare makes, and they pass validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dataprep.helpers import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "drugreview"
SYSTEM = (
    "Classify the sentiment of this drug review as negative, neutral or positive. "
    "Answer with one word."
)


@pytest.mark.parametrize("fmt", ["openai", "bedrock"])
def test_examples_are_reproduced_by_prepare(tmp_path: Path, fmt: str) -> None:
    extra = ["--system", SYSTEM] if fmt == "bedrock" else []
    result = run_cli(
        "prepare", "examples/drugreview/drugreview.jsonl", "--text-column", "review",
        "--label-column", "label", "--format", fmt, "--out", tmp_path, "--seed", "42", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "summary.json"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / fmt / name).read_bytes(), name


@pytest.mark.parametrize(
    ("fmt", "split", "role"),
    [("openai", "train", "training"), ("openai", "validation", "training"),
     ("openai", "test", "training"), ("bedrock", "train", "training"),
     ("bedrock", "validation", "validation"), ("bedrock", "test", "validation")],
)  # fmt: skip
def test_examples_pass_validate(fmt: str, split: str, role: str) -> None:
    result = run_cli("validate", EXAMPLE / fmt / f"{split}.jsonl", "--format", fmt, "--role", role)
    assert (result.returncode, result.stdout) == (0, "")
