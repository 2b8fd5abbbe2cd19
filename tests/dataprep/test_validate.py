"""validate: each rule caught on a small bad file, reported at the right line, exit status 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.dataprep.validate import detect_separator, validate_file
from tests.dataprep.helpers import SEPARATOR, run_cli, write_jsonl

BAD_LINE = 7


def _bedrock(i: int) -> dict[str, Any]:
    return {
        "system": "Classify.",
        "messages": [
            {"role": "user", "content": f"review number {i}"},
            {"role": "assistant", "content": "positive" if i % 2 else "negative"},
        ],
    }


def _openai(i: int) -> dict[str, Any]:
    return {"prompt": f"review number {i}.{SEPARATOR}", "completion": " positive"}


def _file_with(tmp_path: Path, make: Any, bad_line: str, count: int = 40) -> Path:
    lines = [json.dumps(make(i)) for i in range(count)]
    lines[BAD_LINE - 1] = bad_line
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _messages(path: Path, fmt: str, role: str = "training", warnings: bool = False) -> list[str]:
    """The violations as printed (warnings too, if asked for)."""
    _, findings = validate_file(path, fmt, role)  # type: ignore[arg-type]
    return [f.render(path) for f in findings if warnings or not f.warning]


def _user_assistant(user: Any, assistant: Any = "positive") -> list[dict[str, Any]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


BEDROCK_CASES = [
    ("[1, 2]", "expected a JSON object"),
    ('{"messages": [', "malformed JSON"),
    ("", "blank line"),
    (json.dumps({"messages": _user_assistant("a"), "extra": 1}), "unexpected keys ['extra']"),
    (json.dumps({"system": "x"}), "missing 'messages'"),
    (json.dumps({"messages": [{"role": "user", "content": "a"}]}), "at least two messages"),
    (json.dumps({"messages": _user_assistant("a")[::-1]}), "first message must come from 'user'"),
    (
        json.dumps({"messages": [*_user_assistant("a"), {"role": "assistant", "content": "b"}]}),
        "repeats role 'assistant'",
    ),
    (
        json.dumps({"messages": [*_user_assistant("a"), {"role": "user", "content": "b"}]}),
        "last message must come from 'assistant'",
    ),
    (json.dumps({"messages": _user_assistant("  ")}), "messages[0].content is empty"),
    (json.dumps({"messages": _user_assistant(["a"])}), "messages[0].content must be a string"),
    (json.dumps({"messages": _user_assistant("a\nHuman: hi")}), "contains '\\nHuman:'"),
    (json.dumps({"messages": _user_assistant("a", "b\nAssistant: c")}), "contains '\\nAssistant:'"),
    (json.dumps({"system": "x\nHuman: y", "messages": _user_assistant("a")}), "'system' contains"),
    (json.dumps({"system": 3, "messages": _user_assistant("a")}), "'system' must be a string"),
    (
        json.dumps({"messages": [{"role": "bot", "content": "a"}, _user_assistant("b")[1]]}),
        "role must be 'user' or 'assistant'",
    ),
    (json.dumps({"messages": _user_assistant("x" * 128_100)}), "the limit is 32,000"),
]


@pytest.mark.parametrize(("bad", "expected"), BEDROCK_CASES)
def test_bedrock_rule_reported_at_its_line(tmp_path: Path, bad: str, expected: str) -> None:
    path = _file_with(tmp_path, _bedrock, bad)
    messages = _messages(path, "bedrock")
    assert any(m.startswith(f"{path}:{BAD_LINE}: ") and expected in m for m in messages), messages
    assert all(m.startswith(f"{path}:{BAD_LINE}: ") for m in messages), messages


def test_bedrock_non_utf8_line(tmp_path: Path) -> None:
    path = _file_with(tmp_path, _bedrock, "PLACEHOLDER")
    path.write_bytes(path.read_bytes().replace(b"PLACEHOLDER", b'{"x": "\xff"}'))
    offset = path.read_bytes().index(b"\xff")
    assert _messages(path, "bedrock") == [
        f"{path}:{BAD_LINE}: not valid UTF-8 (byte {offset} of the file)"
    ]


@pytest.mark.parametrize(
    ("count", "role", "ok"),
    [(31, "training", False), (32, "training", True), (10_000, "training", True),
     (10_001, "training", False), (1_000, "validation", True), (1_001, "validation", False)],
)  # fmt: skip
def test_bedrock_record_count_limits(tmp_path: Path, count: int, role: str, ok: bool) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", (_bedrock(i) for i in range(count)))
    messages = _messages(path, "bedrock", role)
    if ok:
        assert messages == []
    else:
        assert messages == [
            f"{path}: {count} records; Bedrock accepts " + messages[0].split("accepts ")[1]
        ]
        assert role in messages[0]


OPENAI_CASES = [
    (
        json.dumps({"prompt": "a" + SEPARATOR, "completion": " x", "id": 1}),
        "unexpected keys ['id']",
    ),
    (json.dumps({"prompt": "a" + SEPARATOR}), "missing 'completion'"),
    (json.dumps({"prompt": 5, "completion": " x"}), "'prompt' must be a string"),
    (
        json.dumps({"prompt": "a" + SEPARATOR, "completion": "positive"}),
        "must start with whitespace",
    ),
    (json.dumps({"prompt": "a" + SEPARATOR, "completion": ""}), "'completion' is empty"),
    (
        json.dumps({"prompt": "no separator here\n", "completion": " x"}),
        "does not end with the separator '\\n\\n###\\n\\n' (39 of 40 prompts do)",
    ),
    (json.dumps({"prompt": SEPARATOR, "completion": " x"}), "no text before the separator"),
    (
        json.dumps({"prompt": "a" + SEPARATOR, "completion": " x END"}),
        "completion ends with ' END'",
    ),
]


@pytest.mark.parametrize(("bad", "expected"), OPENAI_CASES)
def test_openai_rule_reported_at_its_line(tmp_path: Path, bad: str, expected: str) -> None:
    path = _file_with(tmp_path, _openai, bad)
    messages = _messages(path, "openai")
    assert any(m.startswith(f"{path}:{BAD_LINE}: ") and expected in m for m in messages), messages
    assert all(m.startswith(f"{path}:{BAD_LINE}: ") for m in messages), messages


def test_openai_stop_suffix_must_be_consistent(tmp_path: Path) -> None:
    def make(i: int) -> dict[str, str]:
        return {"prompt": f"text {i} ->", "completion": " yes\n"}

    path = _file_with(tmp_path, make, json.dumps({"prompt": "text ->", "completion": " yes"}))
    assert _messages(path, "openai") == [
        f"{path}:{BAD_LINE}: completion lacks the stop suffix '\\n' "
        "(39 of 40 completions end with it)"
    ]


def test_openai_arrow_separator_detected(tmp_path: Path) -> None:
    def make(i: int) -> dict[str, str]:
        return {"prompt": f"text number {i} ->", "completion": " yes"}

    path = _file_with(tmp_path, make, json.dumps({"prompt": "text", "completion": " yes"}))
    messages = _messages(path, "openai")
    assert len(messages) == 1 and "the separator ' ->'" in messages[0]
    assert messages[0].startswith(f"{path}:{BAD_LINE}: ")


def test_openai_prompts_without_a_shared_ending(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [{"prompt": p, "completion": " x"} for p in ("alpha", "beta!", "gamma?", "delta 1")],
    )
    assert _messages(path, "openai") == [
        f"{path}: the prompts do not share a separator at their end"
    ]


def test_separator_detection_prefers_what_most_prompts_share() -> None:
    tails = [f"text {i}." + SEPARATOR for i in range(95)] + [f"other {i}!\n" for i in range(5)]
    assert detect_separator(tails) == SEPARATOR  # not the shorter '\n' that all 100 share
    custom = [f"t{i}\n\nSentiment:" for i in range(20)]
    assert detect_separator(custom) == "\n\nSentiment:"
    answer = [f"t{i}.\n\nAnswer:\n" for i in range(20)]
    assert detect_separator(answer) == ".\n\nAnswer:\n"  # more than the bare '\n' all share


def test_cli_validate_exit_status_and_output(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", (_bedrock(i) for i in range(40)))
    result = run_cli("validate", good, "--format", "bedrock")
    assert (result.returncode, result.stdout) == (0, "")
    bad = _file_with(tmp_path, _bedrock, json.dumps({"messages": _user_assistant("")}))
    result = run_cli("validate", bad, "--format", "bedrock", "--role", "validation")
    assert result.returncode == 1
    assert result.stdout == f"{bad}:{BAD_LINE}: messages[0].content is empty\n"
    missing = run_cli("validate", tmp_path / "nope.jsonl", "--format", "openai")
    assert missing.returncode == 2 and "no such file" in missing.stderr
