"""Dataset reading: the three shapes detected per line, line-numbered problems, skipping, limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.evaluation.datasets import (
    MAX_REPORTED_PROBLEMS,
    Dataset,
    DatasetError,
    Item,
    parse_record,
)
from chalicelib.formats import Message


def lines_of(*records: Any) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in records]


def dataset(lines: list[str], **options: Any) -> Dataset:
    return Dataset("mem.jsonl", lambda: lines, **options)


def problems_of(lines: list[str], **options: Any) -> list[tuple[int, str]]:
    with pytest.raises(DatasetError) as caught:
        dataset(lines, **options).validate()
    return caught.value.problems


def test_each_shape_is_detected_per_line() -> None:
    lines = lines_of(
        {"prompt": "great drug\n\n###\n\n", "completion": " positive\n"},
        {
            "system": "Classify.",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "awful"},
                {"role": "assistant", "content": "  negative "},
            ],
            "category": "cardio",
        },
        {"input": "meh", "target": "neutral"},
        {"prompt": "fine", "referenceResponse": "positive", "category": "derm"},
    )
    data = dataset(lines)
    assert data.validate().n_items == 4
    items = list(data.items())
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert [i.line for i in items] == [1, 2, 3, 4]
    assert items[0].input == "great drug\n\n###\n\n"  # the separator is kept for the prompt
    assert [i.reference for i in items] == ["positive", "negative", "neutral", "positive"]
    assert items[1].input == (
        Message("user", "first"),
        Message("assistant", "ok"),
        Message("user", "awful"),
    )
    assert items[1].system == "Classify."
    assert [i.category for i in items] == [None, "cardio", None, "derm"]
    assert items[2].input == "meh" and items[3].input == "fine"


def test_nova_content_blocks_are_joined() -> None:
    record = {
        "messages": [
            {"role": "user", "content": [{"text": "good "}, {"text": "stuff"}]},
            {"role": "assistant", "content": [{"text": "positive"}]},
        ]
    }
    item = parse_record(record, 0, 1)
    assert item.input == (Message("user", "good stuff"),)
    assert item.reference == "positive"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json", "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"text": "x", "label": "y"}), "unknown shape"),
        (json.dumps({"prompt": "x"}), "unknown shape"),
        (json.dumps({"prompt": "x", "completion": "   "}), "'completion' is empty"),
        (json.dumps({"prompt": "x", "completion": 3}), "'completion' must be a string"),
        (json.dumps({"input": "", "target": "y"}), "'input' is empty"),
        (
            json.dumps({"prompt": "x", "completion": "y", "referenceResponse": "y"}),
            "ambiguous",
        ),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}), "at least a user"),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "x"},
                        {"role": "user", "content": "y"},
                    ]
                }
            ),
            "must have role 'assistant'",
        ),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "x"},
                        {"role": "assistant", "content": "y"},
                    ]
                }
            ),
            "role must be 'user' or 'assistant'",
        ),
        (json.dumps({"input": "x", "target": "y", "category": 4}), "'category'"),
        ("   ", "blank line"),
    ],
)
def test_bad_line_is_reported_with_its_number(line: str, fragment: str) -> None:
    good = json.dumps({"input": "x", "target": "y"})
    problems = problems_of([good, good, line, good])
    assert len(problems) == 1
    assert problems[0][0] == 3
    assert fragment in problems[0][1]


@pytest.mark.parametrize(
    "record",
    [
        {"aws_secret_access_key": "wJalrXUtnFEMI", "region": "us-east-1"},
        {"totals": {"sk-live-4242": 1}, "results": ["sk-live-4242"]},
        {"prompt": "sk-live-4242", "sk-live-4242": "wJalrXUtnFEMI"},
    ],
)
def test_a_line_that_is_no_dataset_record_is_not_echoed(record: dict[str, Any]) -> None:
    """A job pointed at some other JSON file must not learn its keys or values from the error
    (only keys of the dataset shapes are named, the rest counted)."""
    problems = problems_of([json.dumps(record)])
    assert len(problems) == 1
    reason = problems[0][1]
    assert "unknown shape" in reason
    for secret in ("wJalrXUtnFEMI", "sk-live-4242", "aws_secret", "region", "totals", "results"):
        assert secret not in reason
    if "prompt" in record:
        assert "'prompt' and 1 other key" in reason


def test_every_bad_line_is_reported_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"input": "x", "target": "y"}).encode()
    path.write_bytes(b"\n".join([good, b"{oops", good, b"\xff\xfe", good, b"{}"]) + b"\n")
    with pytest.raises(DatasetError) as caught:
        Dataset.from_path(path).validate()
    error = caught.value
    assert [n for n, _ in error.problems] == [2, 4, 6]
    assert "UTF-8" in error.problems[1][1]
    assert error.n_problems == 3
    assert "line 2:" in str(error) and "line 6:" in str(error)
    assert error.details()[0] == {"line": 2, "reason": error.problems[0][1]}


def test_empty_dataset_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(DatasetError, match="empty"):
        Dataset.from_path(path).validate()


def test_byte_order_mark_on_the_first_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"input": "x", "target": "y"}).encode() + b"\n")
    data = Dataset.from_path(path)
    assert data.validate().n_items == 1


def test_skipping_invalid_lines_numbers_the_usable_items_densely() -> None:
    good = [json.dumps({"input": f"x{i}", "target": "y"}) for i in range(4)]
    lines = [good[0], "nope", good[1], json.dumps({"a": 1}), good[2], good[3]]
    data = dataset(lines, skip_invalid_lines=True)
    summary = data.validate()
    assert (summary.n_items, summary.skipped_lines) == (4, 2)
    items = list(data.items())
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert [i.line for i in items] == [1, 3, 5, 6]
    assert [i.input for i in items] == ["x0", "x1", "x2", "x3"]


def test_skipping_still_fails_when_nothing_is_usable() -> None:
    problems = problems_of(["nope", "{}"], skip_invalid_lines=True)
    assert problems[0] == (0, "the dataset has no usable items")
    assert [n for n, _ in problems[1:]] == [1, 2]


def test_a_deployment_check_rejects_lines_too() -> None:
    lines = lines_of({"input": "a", "target": "3.5"}, {"input": "b", "target": "many"})
    problems = problems_of(lines, check=lambda item: None if item.reference[0].isdigit() else "no")
    assert problems == [(2, "no")]


def test_limit_takes_the_first_items() -> None:
    lines = [json.dumps({"input": f"x{i}", "target": "y"}) for i in range(10)]
    data = dataset(lines)
    assert [i.index for i in data.items(limit=3)] == [0, 1, 2]
    assert len(list(data.items(limit=50))) == 10


def test_reported_problems_are_capped_but_counted() -> None:
    lines = ["bad"] * (MAX_REPORTED_PROBLEMS + 5)
    with pytest.raises(DatasetError) as caught:
        dataset(lines).validate()
    assert len(caught.value.problems) == MAX_REPORTED_PROBLEMS
    assert caught.value.n_problems == MAX_REPORTED_PROBLEMS + 5


def test_inline_records_and_item_records_round_trip() -> None:
    records = [
        {"prompt": "x", "completion": " y"},
        {
            "system": "s",
            "messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
        },
    ]
    items = list(Dataset.from_records("inline", records).items())
    for item in items:
        back = Item.from_record(json.loads(json.dumps(item.to_record())))
        assert back == item
