"""Tuning data checked in full with line numbers: dataprep's rules plus the family's limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.errors import InvalidRequest
from chalicelib.tuning.data import check_file, check_records, raise_for_violations
from chalicelib.tuning.families import family_for

DRUGS = Path(__file__).parents[2] / "examples" / "drugreview"
HAIKU = family_for("anthropic.claude-3-haiku-20240307-v1:0")
DAVINCI = family_for("davinci-002")
LLAMA = family_for("meta.llama3-1-8b-instruct-v1:0")
CHAT = family_for("gpt-4o-mini-2024-07-18")


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_drugreview_bedrock_passes_with_a_summary() -> None:
    check = check_file(DRUGS / "bedrock" / "train.jsonl", HAIKU)
    assert check.errors == []
    assert check.summary.records == 782
    assert check.summary.completions == {"positive": 505, "negative": 205, "neutral": 72}
    assert check.summary.estimated_tokens > 782
    assert check.summary.as_json()["format"] == "bedrock"


def test_drugreview_openai_passes() -> None:
    check = check_file(DRUGS / "openai" / "train.jsonl", DAVINCI)
    assert check.errors == []
    assert check.summary.completions == {"positive": 505, "negative": 205, "neutral": 72}


def test_a_bad_line_gives_a_400_with_its_line_number() -> None:
    records = lines(DRUGS / "bedrock" / "train.jsonl")[:40]
    records[6] = {"messages": [{"role": "assistant", "content": "hi"}]}
    records[20] = {"system": 3, "messages": records[20]["messages"]}
    check = check_records(records, HAIKU)
    assert [v.line for v in check.errors] == [7, 7, 21]
    with pytest.raises(InvalidRequest) as exc:
        raise_for_violations([check])
    assert exc.value.status == 400 and "line 7" in exc.value.message
    assert exc.value.details and exc.value.details[0]["line"] == 7
    assert exc.value.details[0]["field"] == "training"
    assert {d["line"] for d in exc.value.details} == {7, 21}


def test_details_are_capped_and_say_how_many_more() -> None:
    records = [{"prompt": "x"} for _ in range(30)]
    with pytest.raises(InvalidRequest) as exc:
        raise_for_violations([check_records(records, DAVINCI)], shown=5)
    assert exc.value.details is not None and len(exc.value.details) == 5
    assert "more not shown" in exc.value.message


def test_bedrock_record_count_limit_is_dataprep_s() -> None:
    records = lines(DRUGS / "bedrock" / "train.jsonl")[:10]
    check = check_records(records, HAIKU)
    assert [v.reason for v in check.errors] == [
        "10 records; Bedrock accepts 32-10,000 for training data"
    ]


def test_family_minimum_records_for_openai() -> None:
    records = lines(DRUGS / "openai" / "train.jsonl")[:5]
    (only,) = check_records(records, DAVINCI).errors
    assert only.line is None and "davinci" not in only.reason and "at least 10" in only.reason


def test_family_token_limit_applies() -> None:
    records = lines(DRUGS / "openai" / "train.jsonl")[:12]
    records[3] = {"prompt": "word " * 3000 + "\n\n###\n\n", "completion": " positive"}
    (only,) = check_records(records, DAVINCI).errors
    assert only.line == 4 and "2,048" in only.reason


def test_bedrock_prompt_completion_skips_openai_only_rules() -> None:
    records = [{"prompt": f"review {i}", "completion": "positive"} for i in range(12)]
    assert check_records(records, LLAMA).errors == []  # no leading space, no separator: fine
    assert check_records(records, DAVINCI).errors  # OpenAI's legacy rules want both


def test_chat_records_are_parsed_and_counted() -> None:
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    check = check_records([good] * 11 + [{"prompt": "x"}], CHAT)
    assert [v.line for v in check.errors] == [12]
    assert check.summary.records == 12


def test_validation_role_uses_validation_limits(tmp_path: Path) -> None:
    records = lines(DRUGS / "bedrock" / "validation.jsonl")
    assert check_records(records, HAIKU, "validation").errors == []
    assert check_records(records[:5], HAIKU, "validation").errors[0].role == "validation"
