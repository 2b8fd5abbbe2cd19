"""The data commands as a shell user meets them: pipes closed early, existing outputs, typos in a
column name, and what to run next."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dataprep.helpers import ROOT, read_jsonl, run_cli, sample_rows, write_jsonl, write_table

EXAMPLE_TRAIN = ROOT / "examples" / "drugreview" / "openai" / "train.jsonl"


def _into_closed_pipe(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdout a pipe nobody reads any more, as in `… | head -1` after head quit."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *map(str, args)],
            cwd=ROOT,
            env={**os.environ, "TUNEGATE_PROGRESS": "0"},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "BAD", "--format", "openai"),  # many lines, written while running
        ("estimate-cost", EXAMPLE_TRAIN, "--epochs", "2", "--price-per-1k-tokens", "0.008"),
        ("estimate-cost", EXAMPLE_TRAIN, "--epochs", "2", "--price-per-1k-tokens", "1", "--json"),
    ],
)
def test_closed_pipe_ends_the_command_quietly(tmp_path: Path, args: tuple[str | Path, ...]) -> None:
    bad = write_jsonl(
        tmp_path / "bad.jsonl", ({"prompt": f"p{i}", "completion": "x"} for i in range(5000))
    )
    result = _into_closed_pipe(*(bad if a == "BAD" else a for a in args))
    assert result.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert result.returncode == 141  # as a Unix tool killed by SIGPIPE


def _prepare(source: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "prepare", source, "--text-column", "text", "--label-column", "label",
        "--format", "openai", "--out", out, *extra,
    )  # fmt: skip


def test_prepare_refuses_to_overwrite_outputs_without_force(tmp_path: Path) -> None:
    source = write_table(tmp_path / "in.csv", ["text", "label"], sample_rows({"a": 30, "b": 30}))
    out = tmp_path / "out"
    assert _prepare(source, out, "--seed", "1").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    refused = _prepare(source, out, "--seed", "2")
    assert refused.returncode == 2
    assert "already holds train.jsonl, validation.jsonl, test.jsonl, summary.json" in refused.stderr
    assert "--force" in refused.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    (out / "train.jsonl").unlink()  # any one output left behind is enough to refuse
    assert "already holds validation.jsonl" in _prepare(source, out, "--seed", "2").stderr

    forced = _prepare(source, out, "--seed", "2", "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["seed"] == 2


def test_prepare_into_a_folder_with_other_files_is_fine(tmp_path: Path) -> None:
    source = write_table(tmp_path / "in.csv", ["text", "label"], sample_rows({"a": 30, "b": 30}))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine\n")
    assert _prepare(source, tmp_path / "out").returncode == 0


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_wrong_case_column_names_the_columns_and_the_match(tmp_path: Path, kind: str) -> None:
    rows = sample_rows({"a": 5})
    if kind == "csv":
        source = write_table(tmp_path / "in.csv", ["review", "label"], rows)
    else:
        source = write_jsonl(
            tmp_path / "in.jsonl", ({"review": t, "label": lab} for t, lab in rows)
        )
    result = run_cli(
        "prepare", source, "--text-column", "Review", "--label-column", "label",
        "--format", "openai", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.returncode == 2
    assert "no column 'Review'; the columns are: 'review', 'label'" in result.stderr
    assert "did you mean 'review'?" in result.stderr


def test_prepare_suggests_the_next_commands_and_they_run(tmp_path: Path) -> None:
    rows = sample_rows({"positive": 300, "negative": 100})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    out = tmp_path / "my out"  # a space: the suggested commands must quote it
    result = _prepare(source, out, "--max-tokens", "500")
    assert result.returncode == 0, result.stderr
    suggested = result.stdout.split("next:\n", 1)[1].splitlines()
    assert [line.split()[3] for line in suggested] == ["validate", "validate", "estimate-cost"]
    for line in suggested:
        words = shlex.split(line)
        assert words[:3] == ["python", "-m", "chalicelib.cli"]
        if words[3] == "validate":
            assert "--max-tokens" in words
            check = run_cli(*words[3:])
            assert (check.returncode, check.stdout) == (0, ""), check.stderr
        else:
            prices = [w if w != "USD" else "0.008" for w in words[3:]]
            assert run_cli(*prices).returncode == 0
    assert len(read_jsonl(out / "train.jsonl")) == 320
