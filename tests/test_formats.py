"""Request builders and response readers of every family, and the prompt rules they share."""

from __future__ import annotations

import pytest

from chalicelib.config.registry import InferenceSpec, PromptSpec
from chalicelib.errors import InvalidRequest, ModelError
from chalicelib.formats import (
    FORMATS,
    InferenceParams,
    Message,
    Prompt,
    anthropic,
    converse,
    get_format,
    llama3,
    openai_chat,
    openai_completions,
    titan,
)
from chalicelib.formats.base import transcript, truncate_at_stop
from chalicelib.serving.prompting import (
    format_user_text,
    render_prompt,
    resolve_params,
    with_separator,
)

SEP = "\n\n###\n\n"
PARAMS = InferenceParams(max_tokens=7, temperature=0.2, top_p=0.9, stop=("\n", "END"))
ONE_TURN = Prompt(messages=(Message("user", "great drug" + SEP),), system="Classify.")
MULTI = Prompt(
    messages=(Message("user", "hi"), Message("assistant", "hello"), Message("user", "rate it")),
    system="Be brief.",
)


def test_separator_appended_exactly_once() -> None:
    assert with_separator("text", SEP) == "text" + SEP
    assert with_separator("text" + SEP, SEP) == "text" + SEP
    assert with_separator(with_separator("text", SEP), SEP) == "text" + SEP
    assert with_separator("text", "") == "text"
    # an input ending with only part of the separator still gets the whole one
    assert with_separator("text\n\n###", SEP) == "text\n\n###" + SEP


def test_template_then_separator() -> None:
    spec = PromptSpec(template="Review: {input}", separator=SEP)
    assert format_user_text(spec, "ok {braces}") == "Review: ok {braces}" + SEP


def test_render_prompt_applies_format_to_last_user_turn_only() -> None:
    spec = PromptSpec(system="Sys", template="Q: {input}", separator=SEP)
    prompt = render_prompt(
        spec, messages=(Message("user", "a"), Message("assistant", "b"), Message("user", "c"))
    )
    assert [m.content for m in prompt.messages] == ["a", "b", "Q: c" + SEP]
    assert prompt.system == "Sys"
    assert render_prompt(spec, input_text="x", system="Other").system == "Other"


def test_render_prompt_rejects_conversation_ending_with_assistant() -> None:
    with pytest.raises(InvalidRequest):
        render_prompt(PromptSpec(), messages=(Message("assistant", "b"),))


def test_params_within_registry_bounds() -> None:
    spec = InferenceSpec(max_tokens=10, temperature=0, top_p=1, stop=["\n"])
    assert resolve_params(spec) == InferenceParams(10, 0.0, 1.0, ("\n",))
    lowered = resolve_params(spec, max_tokens=3, temperature=0.5, stop=["x"])
    assert (lowered.max_tokens, lowered.temperature, lowered.stop) == (3, 0.5, ("x",))
    with pytest.raises(InvalidRequest) as raised:
        resolve_params(spec, max_tokens=11)
    assert raised.value.details and raised.value.details[0]["field"] == "parameters.max_tokens"


def test_converse_request() -> None:
    request = converse.build_request(ONE_TURN, PARAMS)
    assert request == {
        "messages": [{"role": "user", "content": [{"text": "great drug" + SEP}]}],
        "system": [{"text": "Classify."}],
        "inferenceConfig": {
            "maxTokens": 7,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["\n", "END"],
        },
    }


def test_anthropic_request_uses_messages_body() -> None:
    request = anthropic.build_request(MULTI, PARAMS)
    assert request["anthropic_version"] == "bedrock-2023-05-31"
    assert request["system"] == "Be brief."
    assert request["max_tokens"] == 7 and request["stop_sequences"] == ["END"]
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]


def test_anthropic_sends_only_stops_it_accepts() -> None:
    params = InferenceParams(max_tokens=7, temperature=0.2, top_p=0.9, stop=("\n", " ", "END"))
    assert anthropic.build_request(MULTI, params)["stop_sequences"] == ["END"]
    only_whitespace = InferenceParams(max_tokens=7, temperature=0.2, top_p=0.9, stop=("\n",))
    assert "stop_sequences" not in anthropic.build_request(MULTI, only_whitespace)


def test_llama3_chat_template() -> None:
    request = llama3.build_request(MULTI, PARAMS)
    assert request["max_gen_len"] == 7
    assert "stop" not in request
    assert request["prompt"] == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nrate it<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_titan_and_completions_send_a_single_turn_verbatim() -> None:
    bare = Prompt(messages=(Message("user", "great drug" + SEP),))
    assert titan.build_request(bare, PARAMS)["inputText"] == "great drug" + SEP
    assert titan.build_request(bare, PARAMS)["textGenerationConfig"]["stopSequences"] == [
        "\n",
        "END",
    ]
    assert openai_completions.build_request(bare, PARAMS)["prompt"] == "great drug" + SEP
    assert openai_completions.build_request(bare, PARAMS)["stop"] == ["\n", "END"]


def test_transcript_flattens_conversations() -> None:
    assert transcript(MULTI, "User", "Bot") == (
        "Be brief.\nUser: hi\nBot: hello\nUser: rate it\nBot:"
    )


def test_openai_chat_puts_system_first() -> None:
    request = openai_chat.build_request(MULTI, PARAMS)
    assert request["messages"][0] == {"role": "system", "content": "Be brief."}
    assert len(request["messages"]) == 4


@pytest.mark.parametrize(
    ("fmt", "body", "text", "tokens"),
    [
        (
            converse,
            {
                "output": {"message": {"role": "assistant", "content": [{"text": " pos"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 3, "outputTokens": 1},
            },
            " pos",
            (3, 1),
        ),
        (
            anthropic,
            {
                "content": [{"type": "text", "text": "neg"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 4, "output_tokens": 2},
            },
            "neg",
            (4, 2),
        ),
        (
            llama3,
            {"generation": "x", "prompt_token_count": 5, "generation_token_count": 1},
            "x",
            (5, 1),
        ),
        (
            titan,
            {"inputTextTokenCount": 6, "results": [{"tokenCount": 2, "outputText": " y"}]},
            " y",
            (6, 2),
        ),
        (
            openai_completions,
            {"choices": [{"text": " z"}], "usage": {"prompt_tokens": 7, "completion_tokens": 1}},
            " z",
            (7, 1),
        ),
        (
            openai_chat,
            {"choices": [{"message": {"content": "w"}}], "usage": {"prompt_tokens": 8}},
            "w",
            (8, None),
        ),
    ],
)
def test_response_readers(fmt, body, text, tokens) -> None:
    completion = fmt.read_response(body)
    assert completion.text == text
    assert (completion.input_tokens, completion.output_tokens) == tokens


@pytest.mark.parametrize("fmt", list(FORMATS.values()), ids=lambda f: f.name)
@pytest.mark.parametrize("body", [{}, [], "text", None, {"output": 3}, {"choices": []}])
def test_unreadable_bodies_are_model_errors(fmt, body) -> None:
    with pytest.raises(ModelError):
        fmt.read_response(body)


def test_stop_truncation_takes_earliest() -> None:
    assert truncate_at_stop("abc END def\nx", ("\n", "END")) == "abc "
    assert truncate_at_stop("abc", ("\n",)) == "abc"


def test_every_registry_format_is_known() -> None:
    from chalicelib.config.registry import BEDROCK_FORMATS, OPENAI_FORMATS

    for name in BEDROCK_FORMATS:
        assert get_format("bedrock", name).name == name
    for name in OPENAI_FORMATS:
        assert get_format("openai", name).name == name
