"""Output files appear whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.dataprep.atomic import write_files
from chalicelib.dataprep.errors import DataError
from chalicelib.dataprep.prepare import PrepareOptions, prepare
from tests.dataprep.helpers import sample_rows, write_table


class Interrupted(Exception):
    pass


def _lines_then_fail(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"line {i}\n"
    raise Interrupted


def test_failure_midway_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    with pytest.raises(Interrupted):
        write_files(
            [
                (tmp_path / "a.jsonl", iter(["x\n"] * 10)),
                (tmp_path / "b.jsonl", _lines_then_fail(5000)),
            ]
        )
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_outputs_untouched(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("old a\n")
    (tmp_path / "b.jsonl").write_text("old b\n")
    with pytest.raises(Interrupted):
        write_files(
            [(tmp_path / "a.jsonl", ["new a\n"]), (tmp_path / "b.jsonl", _lines_then_fail(3))]
        )
    assert (tmp_path / "a.jsonl").read_text() == "old a\n"
    assert (tmp_path / "b.jsonl").read_text() == "old b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]


def test_success_replaces_all_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("old a\n")
    write_files(
        [(tmp_path / "a.jsonl", ["new ", "a\n"]), (tmp_path / "b.jsonl", (s for s in ["b\n"]))]
    )
    assert (tmp_path / "a.jsonl").read_text() == "new a\n"
    assert (tmp_path / "b.jsonl").read_text() == "b\n"
    assert len(list(tmp_path.iterdir())) == 2


def test_prepare_failing_before_writing_leaves_old_outputs(tmp_path: Path) -> None:
    good = write_table(tmp_path / "good.csv", ["text", "label"], sample_rows({"a": 30, "b": 30}))
    out = tmp_path / "out"
    prepare(good, PrepareOptions("text", "label", "openai", out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_bytes(good.read_bytes() + b"\xff\xfe,a\n")
    with pytest.raises(DataError):
        prepare(bad, PrepareOptions("text", "label", "openai", out, seed=9))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    good = write_table(tmp_path / "good.csv", ["text", "label"], sample_rows({"a": 5}))
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="not a directory"):
        prepare(good, PrepareOptions("text", "label", "openai", blocker))
