"""prepare on bad input: a clear message naming the problem (and line), non-zero exit, no output."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.dataprep.errors import DataError
from chalicelib.dataprep.prepare import PrepareOptions, prepare
from chalicelib.dataprep.readers import detect_kind, read_rows
from tests.dataprep.helpers import run_cli, sample_rows, write_jsonl, write_table


def _prepare(source: Path, out: Path) -> None:
    prepare(source, PrepareOptions("text", "label", "openai", out))


def _cli_prepare(source: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = run_cli(
        "prepare", source, "--text-column", "text", "--label-column", "label",
        "--format", "openai", "--out", out, *extra,
    )  # fmt: skip
    return result.returncode, result.stderr


def test_missing_column_names_the_columns(tmp_path: Path) -> None:
    source = write_table(tmp_path / "in.csv", ["review", "label"], sample_rows({"a": 5}))
    code, err = _cli_prepare(source, tmp_path / "out")
    assert code == 2
    assert "no column 'text'" in err and "'review'" in err
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_missing_field_in_json_lines(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"body": "x", "label": "a"}])
    with pytest.raises(DataError, match="no column 'text'"):
        _prepare(source, tmp_path / "out")
    source = write_jsonl(
        tmp_path / "in2.jsonl",
        [{"text": "x", "label": "a"}, {"text": "y"}, {"text": "z", "label": "b"}],
    )
    with pytest.raises(DataError, match=r"in2.jsonl:2: no field 'label'"):
        _prepare(source, tmp_path / "out")


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    for name in ("in.csv", "in.jsonl"):
        source = tmp_path / name
        source.write_bytes(content)
        with pytest.raises(DataError, match="empty file"):
            _prepare(source, tmp_path / "out")


def test_header_only_csv(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match="no data rows"):
        _prepare(source, tmp_path / "out")


def test_non_utf8_csv_names_line_and_byte(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    good = b"text,label\nfine,a\nalso fine,b\n"
    source.write_bytes(good + b"caf\xe9,a\n")
    code, err = _cli_prepare(source, tmp_path / "out")
    assert code == 2
    assert f"in.csv:4: not valid UTF-8 (byte {len(good) + 3} of the file)" in err


def test_non_utf8_json_lines_names_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    first, before_bad = b'{"text": "ok", "label": "a"}\n', b'{"text": "caf'
    source.write_bytes(first + before_bad + b'\xe9", "label": "a"}\n')
    offset = len(first) + len(before_bad)
    with pytest.raises(DataError, match=rf"in.jsonl:2: not valid UTF-8 \(byte {offset} "):
        _prepare(source, tmp_path / "out")


def test_malformed_json_line_names_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"text": "a", "label": "x"}\n\n{"text": "b", "label": "y"}\n{"text": "c", label: "z"}\n',
        encoding="utf-8",
    )
    code, err = _cli_prepare(source, tmp_path / "out")
    assert code == 2
    assert "in.jsonl:4: malformed JSON" in err
    assert "Traceback" not in err


def test_json_values_that_are_not_text(tmp_path: Path) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"text": "a", "label": 1}, {"text": {"x": 1}, "label": 2}]
    )
    with pytest.raises(DataError, match=r"in.jsonl:2: field 'text' is a JSON dict"):
        _prepare(source, tmp_path / "out")


def test_lone_surrogate_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "ok", "label": "a"}\n{"text": "bad \\ud800", "label": "a"}\n')
    with pytest.raises(DataError, match=r"in.jsonl:2: .*not valid Unicode"):
        _prepare(source, tmp_path / "out")


def test_ragged_csv_row(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('text,label\n"multi\nline",a\nfine,b,extra\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"in.csv:4: expected 2 fields like the header, found 3"):
        _prepare(source, tmp_path / "out")


@pytest.mark.parametrize(
    ("split", "why"),
    [
        ("0.8,0.1", "three ratios"),
        ("0.8,0.1,0.2", "add up to 1"),
        ("80,10,10", "add up to 1"),
        ("0.9,-0.1,0.2", "not negative"),
        ("0,0.5,0.5", "train ratio"),
        ("a,b,c", "three numbers"),
    ],
)
def test_bad_split_ratios(tmp_path: Path, split: str, why: str) -> None:
    source = write_table(tmp_path / "in.csv", ["text", "label"], sample_rows({"a": 5}))
    code, err = _cli_prepare(source, tmp_path / "out", f"--split={split}")
    assert code == 2
    assert why in err


def test_missing_input_file(tmp_path: Path) -> None:
    code, err = _cli_prepare(tmp_path / "nope.csv", tmp_path / "out")
    assert code == 2
    assert "no such file" in err.lower()


def test_nothing_left_after_cleaning(tmp_path: Path) -> None:
    source = write_table(tmp_path / "in.csv", ["text", "label"], [("same", "a"), ("SAME", "b")])
    with pytest.raises(DataError, match="no usable rows"):
        _prepare(source, tmp_path / "out")


def test_kind_is_sniffed_without_a_known_extension(tmp_path: Path) -> None:
    tsv = write_table(tmp_path / "data.txt", ["text", "label"], [("a, b, c", "x")], delimiter="\t")
    csv_file = write_table(tmp_path / "data.dat", ["text", "label"], [("a\tb", "x")])
    json_file = write_jsonl(tmp_path / "data", [{"text": "a", "label": "x"}])
    assert [detect_kind(p) for p in (tsv, csv_file, json_file)] == ["tsv", "csv", "jsonl"]
    assert list(read_rows(tsv, "text", "label")) == [(2, "a, b, c", "x")]
    assert list(read_rows(csv_file, "text", "label")) == [(2, "a\tb", "x")]
