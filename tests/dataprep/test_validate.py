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


@pytest.mark.parametrize(
    ("fmt", "bad", "expected"),
    [("bedrock", *case) for case in BEDROCK_CASES] + [("openai", *case) for case in OPENAI_CASES],
)
def test_rule_reported_at_its_line(tmp_path: Path, fmt: str, bad: str, expected: str) -> None:
    path = _file_with(tmp_path, {"bedrock": _bedrock, "openai": _openai}[fmt], bad)
    messages = _messages(path, fmt)
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


def _cli_validate(path: Path, *extra: str) -> tuple[int, list[str], list[str]]:
    """(exit status, stdout lines: the violations, stderr lines: warnings then the verdict)."""
    result = run_cli("validate", path, *extra)
    return result.returncode, result.stdout.splitlines(), result.stderr.splitlines()


def _reviews(count: int) -> list[dict[str, str]]:
    words = ["calm", "rash", "sleep", "dose", "pain", "good", "bad", "pill", "ok", "worse"]
    return [
        {
            "prompt": f"{words[i % 10]} {words[i // 10 % 10]} then {i}{SEPARATOR}",
            "completion": " positive" if i % 3 else " negative",
        }
        for i in range(count)
    ]


def test_a_clean_file_of_enough_records_has_no_warning(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", _reviews(150))
    code, out, err = _cli_validate(path, "--format", "openai")
    assert (code, out, err) == (0, [], [f"{path}: 150 records, openai format, training: OK"])


def test_separator_inside_a_prompt_is_a_violation(tmp_path: Path) -> None:
    records = _reviews(150)
    records[BAD_LINE - 1]["prompt"] = f"first part{SEPARATOR}second part{SEPARATOR}"
    path = write_jsonl(tmp_path / "d.jsonl", records)
    code, out, _ = _cli_validate(path, "--format", "openai")
    assert code == 1
    assert out == [
        f"{path}:{BAD_LINE}: the separator '\\n\\n###\\n\\n' also occurs inside the prompt; "
        "the model cannot tell where the prompt ends"
    ]


def test_record_over_the_token_limit_is_a_violation(tmp_path: Path) -> None:
    records = _reviews(150)
    records[BAD_LINE - 1]["prompt"] = "x" * 140_000 + SEPARATOR
    path = write_jsonl(tmp_path / "d.jsonl", records)
    code, out, _ = _cli_validate(path, "--format", "openai")
    assert code == 1
    tokens = -(-(140_000 + len(SEPARATOR) + len(" positive")) // 4)
    assert out == [
        f"{path}:{BAD_LINE}: about {tokens:,} tokens (estimated); the limit is 2,048 (--max-tokens)"
    ]
    assert _cli_validate(path, "--format", "openai", "--max-tokens", str(tokens))[:2] == (0, [])
    assert _cli_validate(path, "--format", "openai", "--max-tokens", str(tokens - 1))[0] == 1


def test_bedrock_limit_can_be_lowered(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", (_bedrock(i) for i in range(40)))
    code, out, _ = _cli_validate(path, "--format", "bedrock", "--max-tokens", "3")
    assert code == 1 and len(out) == 40 and "the limit is 3 (--max-tokens)" in out[0]


def test_duplicates_and_conflicting_labels_are_warnings_naming_both_lines(tmp_path: Path) -> None:
    records = _reviews(150)
    records[9] = dict(records[2])  # line 10 repeats line 3
    records[20] = {  # line 21: line 5's prompt, other case and spacing, another label
        "prompt": "  " + records[4]["prompt"].upper().replace(" ", "  "),
        "completion": " neutral",
    }
    path = write_jsonl(tmp_path / "d.jsonl", records)
    code, out, err = _cli_validate(path, "--format", "openai")
    assert (code, out) == (0, [])
    assert err[:2] == [
        f"{path}:10: warning: duplicate of line 3 (same prompt and completion)",
        f"{path}:21: warning: same prompt as line 5 but another completion "
        "('neutral' here, 'positive' there): conflicting labels",
    ]
    assert err[-1] == f"{path}: 150 records, openai format, training: OK (2 warnings)"


def test_bedrock_duplicates_compare_the_whole_conversation(tmp_path: Path) -> None:
    records = [_bedrock(i) for i in range(120)]
    records[50] = _bedrock(3)  # line 51 repeats line 4
    records[60] = {**_bedrock(5), "system": "Another task."}  # same turns, other system prompt
    path = write_jsonl(tmp_path / "d.jsonl", records)
    code, out, err = _cli_validate(path, "--format", "bedrock")
    assert (code, out) == (0, [])
    assert [line for line in err if "warning: duplicate" in line or "warning: same" in line] == [
        f"{path}:51: warning: duplicate of line 4 (same prompt and completion)"
    ]


def test_few_records_warn_for_training_data_only(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", _reviews(99))
    code, out, err = _cli_validate(path, "--format", "openai")
    assert (code, out) == (0, [])
    assert err[0] == (
        f"{path}: warning: 99 records: fine-tuning needs at least 100 examples to learn a task "
        "well, and gets better with more"
    )
    assert _cli_validate(path, "--format", "openai", "--role", "validation")[2] == [
        f"{path}: 99 records, openai format, validation: OK"
    ]


def test_mostly_uppercase_text_is_a_warning(tmp_path: Path) -> None:
    records = _reviews(150)
    for record in records[:60]:
        record["prompt"] = record["prompt"].upper()
    path = write_jsonl(tmp_path / "d.jsonl", records)
    code, out, err = _cli_validate(path, "--format", "openai")
    assert (code, out) == (0, [])
    assert len(err) == 2 and err[0].startswith(
        f"{path}: warning: more than a third of the letters in the prompts are uppercase ("
    )
    for record in records[:60]:  # 40%: below OpenAI's one-third line, no warning
        record["prompt"] = record["prompt"].lower()
    for record in records[:45]:
        record["prompt"] = record["prompt"].upper()
    write_jsonl(path, records)
    assert len(_cli_validate(path, "--format", "openai")[2]) == 1


def test_shared_prefix_and_suffix_are_warnings_but_the_separator_is_not(tmp_path: Path) -> None:
    records = [
        {
            "prompt": f"Classify this review: {r['prompt'].removesuffix(SEPARATOR)}"
            f"\nSentiment:{SEPARATOR}",
            "completion": f" Label:{r['completion']}.\n",
        }
        for r in _reviews(150)
    ]
    path = write_jsonl(tmp_path / "d.jsonl", records)
    code, out, err = _cli_validate(path, "--format", "openai")
    assert (code, out) == (0, [])
    assert err[:-1] == [
        f"{path}: warning: every prompt starts with 'Classify this review: ': an instruction "
        "repeated in every record costs tokens and teaches nothing (the model learns the task "
        "from the examples; on Bedrock it belongs in the system prompt)",
        f"{path}: warning: every prompt ends with '\\nSentiment:' before the separator: "
        "the separator alone marks the end of the prompt",
        f"{path}: warning: every completion starts with 'Label: ': a completion should hold "
        "only the answer",
    ]  # '.\n' is below the 3-character line; '\n' is the stop sequence


@pytest.mark.parametrize(
    "completions",
    [[" positive", " negative"], [" yes END", " no END"], [" the drug helped", " then it hurt"]],
)
def test_label_endings_and_starts_are_not_mistaken_for_boilerplate(
    tmp_path: Path, completions: list[str]
) -> None:
    records = _reviews(150)
    for i, record in enumerate(records):
        record["completion"] = completions[i % 2]
    path = write_jsonl(tmp_path / "d.jsonl", records)
    assert _cli_validate(path, "--format", "openai")[2] == [
        f"{path}: 150 records, openai format, training: OK"
    ]


def test_shipped_examples_have_no_warnings() -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "drugreview"
    for fmt in ("openai", "bedrock"):
        code, out, err = _cli_validate(root / fmt / "train.jsonl", "--format", fmt)
        assert (code, out, len(err)) == (0, [], 1), err


def test_separator_inside_a_prompt_found_for_an_unusual_separator_too(tmp_path: Path) -> None:
    records = [
        {"prompt": f"{r['prompt'].removesuffix(SEPARATOR)}\n\nSentiment:", "completion": " x"}
        for r in _reviews(150)
    ]
    records[BAD_LINE - 1]["prompt"] = "one\n\nSentiment: two\n\nSentiment:"
    path = write_jsonl(tmp_path / "d.jsonl", records)
    messages = _messages(path, "openai")
    assert messages == [
        f"{path}:{BAD_LINE}: the separator '\\n\\nSentiment:' also occurs inside the prompt; "
        "the model cannot tell where the prompt ends"
    ]
