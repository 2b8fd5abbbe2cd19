"""The trained prompt format recovered from the tuning data, as registry specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.config.registry import Deployment
from chalicelib.errors import InvalidRequest
from chalicelib.tuning.prompt_format import recover_format, recover_format_file

DRUGS = Path(__file__).parents[2] / "examples" / "drugreview"
SYSTEM = (
    "Classify the sentiment of this drug review as negative, neutral or positive. "
    "Answer with one word."
)


def test_drugreview_bedrock() -> None:
    found = recover_format_file(DRUGS / "bedrock" / "train.jsonl")
    assert found.prompt.system == SYSTEM
    assert found.prompt.separator == "" and found.prompt.template == "{input}"
    assert found.output.type == "label"
    assert found.output.labels == ["positive", "negative", "neutral"]
    assert found.inference.stop == [] and not found.leading_space
    assert found.warnings == [] and found.records == 782


def test_drugreview_openai() -> None:
    found = recover_format_file(DRUGS / "openai" / "train.jsonl")
    assert found.prompt.system is None
    assert found.prompt.separator == "\n\n###\n\n"
    assert found.leading_space
    assert set(found.output.labels) == {"positive", "negative", "neutral"}
    assert found.warnings == []


def test_the_specs_make_a_valid_deployment() -> None:
    found = recover_format_file(DRUGS / "bedrock" / "train.jsonl")
    Deployment(
        name="drugs-tuned",
        provider="bedrock",
        model_id="arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
        request_format="anthropic",
        prompt=found.prompt,
        inference=found.inference,
        output=found.output,
    )


def test_stop_sequence_is_recovered_and_stripped_from_labels() -> None:
    records = [
        {"prompt": f"text {i} ->", "completion": f" {'yes' if i % 2 else 'no'} END"}
        for i in range(10)
    ]
    found = recover_format(records)
    assert found.prompt.separator == " ->"
    assert found.inference.stop == [" END"]
    assert sorted(found.output.labels) == ["no", "yes"]


def test_mixed_separators_serve_the_common_one_with_a_warning() -> None:
    records = [{"prompt": f"t{i}\n\n###\n\n", "completion": " a"} for i in range(8)]
    records += [{"prompt": "t9 ->", "completion": " b"}, {"prompt": "t10 ->", "completion": " a"}]
    found = recover_format(records)
    assert found.prompt.separator == "\n\n###\n\n"
    assert any("2 of 10 prompts" in w for w in found.warnings)


def test_no_shared_separator_is_an_error() -> None:
    records = [{"prompt": p, "completion": " x"} for p in ("a ->", "b\n\n", "c###", "d:")]
    with pytest.raises(InvalidRequest) as exc:
        recover_format(records)
    assert exc.value.details and exc.value.details[0]["field"] == "prompt.separator"


def test_mixed_system_prompts_serve_the_majority_with_a_warning() -> None:
    def record(system: str) -> dict[str, object]:
        return {
            "system": system,
            "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
        }

    found = recover_format([record("A")] * 3 + [record("B")])
    assert found.prompt.system == "A"
    assert any("system prompt" in w for w in found.warnings)


def test_free_text_completions_are_a_text_output() -> None:
    records = [{"prompt": f"q{i}\n\n", "completion": f" answer number {i}\n"} for i in range(30)]
    found = recover_format(records)
    assert found.output.type == "text"
    assert found.inference.stop == []  # a bare newline is not served as a stop
    assert any("not served" in w for w in found.warnings)


def test_no_usable_record_is_a_400() -> None:
    with pytest.raises(InvalidRequest):
        recover_format([{"x": 1}, "text"])
    assert json.dumps(recover_format_file(DRUGS / "openai" / "train.jsonl").as_json())
