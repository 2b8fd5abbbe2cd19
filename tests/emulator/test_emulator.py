"""The Bedrock Runtime emulator through real clients: boto3 for Bedrock, urllib for the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from emulator import OPENAI_REFERENCE_MODEL, REFERENCE_MODEL_ARN, Emulator, start_emulator
from emulator.models import ModelRequest, finish
from emulator.reference_model import (
    example_from_record,
    llama3_user_text,
    strip_separator,
    titan_user_text,
)
from emulator.wire import BEDROCK_ERROR_STATUS

ROOT = Path(__file__).resolve().parents[2]
SEPARATOR = "\n\n###\n\n"
# Clearly separable vocabularies: the classifier must learn them, not memorise sentences.
WORDS = {
    "positive": ["excellent", "wonderful", "amazing", "great", "fantastic", "helpful"],
    "negative": ["terrible", "awful", "horrible", "useless", "dreadful", "painful"],
    "neutral": ["okay", "average", "moderate", "ordinary", "mediocre", "unremarkable"],
}
FRAMES = [
    "This medicine was {0} and {1}.",
    "Honestly {0}, the treatment felt {1}",
    "My doctor said it would be {0}; it was {1} for me",
    "{0} results, {1} experience overall",
]


def synthetic_examples() -> list[tuple[str, str]]:
    rows = []
    for label, words in WORDS.items():
        for i, frame in enumerate(FRAMES):
            for j in range(len(words)):
                rows.append((frame.format(words[j], words[(j + i + 1) % len(words)]), label))
    return rows


@pytest.fixture(scope="session")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both fine-tuning shapes in one file: OpenAI legacy and Bedrock conversational lines."""
    path = tmp_path_factory.mktemp("emulator") / "train.jsonl"
    lines = []
    for index, (text, label) in enumerate(synthetic_examples()):
        if index % 2:
            record: dict[str, Any] = {"prompt": text + SEPARATOR, "completion": " " + label}
        else:
            record = {
                "system": "Classify.",
                "messages": [
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": label},
                ],
            }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def emu(train_file: Path) -> Iterator[Emulator]:
    emulator = start_emulator(train_file=train_file, models={"my-classifier": "reference"})
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "emu" in request.fixturenames:
        request.getfixturevalue("emu").reset()


def bedrock_client(url: str, **config: Any) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


@pytest.fixture(scope="module")
def client(emu: Emulator) -> Any:
    return bedrock_client(emu.url)


ECHO = "echo"
ECHO_ARN = "arn:aws:bedrock:us-east-1:000000000000:custom-model/echo-test/abc123"
POSITIVE = "An excellent and wonderful medicine, truly fantastic"
NEGATIVE = "A terrible, awful and painful treatment"
NEUTRAL = "It was okay, an average and ordinary result"


def invoke(client: Any, model: str, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    response = client.invoke_model(modelId=model, body=json.dumps(body))
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def converse(client: Any, model: str, text: str, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": [{"text": text}]}]
    return client.converse(modelId=model, messages=messages, **extra)  # type: ignore[no-any-return]


def llama3_prompt(user: str, system: str | None = None) -> str:
    def turn(role: str, text: str) -> str:
        return f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>"

    head = turn("system", system) if system else ""
    answer = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    return f"<|begin_of_text|>{head}{turn('user', user)}{answer}"


def http(
    emu: Emulator, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        emu.url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def openai(emu: Emulator, endpoint: str, body: Any, key: str | None = "sk-test") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return http(emu, "POST", f"/openai/v1/{endpoint}", body, headers)


def error_code(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    status = error["ResponseMetadata"]["HTTPStatusCode"]
    return error["Error"]["Code"], status, error["Error"]["Message"]


# --- pure pieces ---------------------------------------------------------------------------


def _request(max_tokens: int = 100, stop: tuple[str, ...] = ()) -> ModelRequest:
    return ModelRequest("converse", "", "", 0, max_tokens, stop, completion_style=False)


def test_finish_applies_earliest_stop_then_cap() -> None:
    out = finish(_request(stop=("C", "B")), "a A b B c C")
    assert (out.text, out.finish, out.stop_sequence, out.output_tokens) == (
        "a A b ",
        "stop_sequence",
        "B",
        3,
    )
    capped = finish(_request(max_tokens=2, stop=("C",)), "  one two three C")
    assert (capped.text, capped.finish, capped.output_tokens) == ("  one two", "max_tokens", 2)
    whole = finish(_request(), "just this")
    assert (whole.text, whole.finish, whole.stop_sequence) == ("just this", "end", None)


def test_input_extraction_helpers() -> None:
    assert strip_separator("  good stuff" + SEPARATOR) == "good stuff"
    assert llama3_user_text(llama3_prompt("the review", system="Classify.")) == "the review"
    assert llama3_user_text("plain prompt") == "plain prompt"
    assert titan_user_text("Classify.\nUser: first\nBot: x\nUser: second one\nBot:") == "second one"
    assert titan_user_text("no framing here") == "no framing here"


def test_training_records_of_both_shapes() -> None:
    legacy = example_from_record({"prompt": "text" + SEPARATOR, "completion": " positive"})
    assert (legacy.text, legacy.label) == ("text" + SEPARATOR, "positive")
    chat = example_from_record(
        {
            "messages": [
                {"role": "user", "content": "t"},
                {"role": "assistant", "content": "negative"},
            ]
        }
    )
    assert (chat.text, chat.label) == ("t", "negative")
    with pytest.raises(ValueError):
        example_from_record({"messages": [{"role": "user", "content": "only a question"}]})


# --- families round-trip through boto3 -------------------------------------------------------


def test_titan_echo_round_trip_with_token_headers(client: Any) -> None:
    text = "Review: the pills were fine" + SEPARATOR
    body, headers = invoke(
        client, ECHO, {"inputText": text, "textGenerationConfig": {"maxTokenCount": 50}}
    )
    assert body["results"][0]["outputText"] == text
    assert body["results"][0]["completionReason"] == "FINISH"
    assert body["inputTextTokenCount"] == len(text.split()) == body["results"][0]["tokenCount"]
    assert headers["x-amzn-bedrock-input-token-count"] == str(len(text.split()))
    assert headers["x-amzn-bedrock-output-token-count"] == str(len(text.split()))
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0
    assert headers["content-type"] == "application/json" and headers["x-amzn-requestid"]


def test_llama3_echo_returns_the_whole_templated_prompt(client: Any) -> None:
    prompt = llama3_prompt("how was it?", system="Be brief.")
    body, _ = invoke(client, ECHO_ARN, {"prompt": prompt, "max_gen_len": 512, "temperature": 0})
    assert body["generation"] == prompt
    assert body["stop_reason"] == "stop"
    assert body["prompt_token_count"] == len(prompt.split()) == body["generation_token_count"]


def test_anthropic_echo_answers_last_user_turn(client: Any) -> None:
    request = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": "Be kind.",
        "messages": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "second "},
                    {"type": "text", "text": "question here"},
                ],
            },
        ],
    }
    body, headers = invoke(client, ECHO, request)
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == [{"type": "text", "text": "second question here"}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"] == {"input_tokens": 2 + 2 + 2 + 3, "output_tokens": 3}
    assert headers["x-amzn-bedrock-output-token-count"] == "3"


def test_converse_with_system_prompt(client: Any) -> None:
    response = converse(
        client,
        ECHO_ARN,
        "Review: so so",
        system=[{"text": "You classify."}],
        inferenceConfig={"maxTokens": 20, "temperature": 0.0, "topP": 1.0},
    )
    assert response["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "Review: so so"}],
    }
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}
    assert response["metrics"]["latencyMs"] >= 0


def test_stop_sequences_and_max_tokens(client: Any) -> None:
    response = converse(
        client, ECHO, "keep this STOP not this", inferenceConfig={"stopSequences": ["STOP"]}
    )
    assert response["output"]["message"]["content"][0]["text"] == "keep this "
    assert response["stopReason"] == "stop_sequence"

    body, _ = invoke(
        client,
        ECHO,
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "stop_sequences": ["END"],
            "messages": [{"role": "user", "content": "a b END c"}],
        },
    )
    assert body["content"][0]["text"] == "a b " and body["stop_sequence"] == "END"
    assert body["stop_reason"] == "stop_sequence"

    body, _ = invoke(
        client, ECHO, {"inputText": "x y | z", "textGenerationConfig": {"stopSequences": ["|"]}}
    )
    assert body["results"][0]["outputText"] == "x y "
    assert body["results"][0]["completionReason"] == "STOP_CRITERIA_MET"

    body, _ = invoke(client, ECHO, {"prompt": "one two three four", "max_gen_len": 2})
    assert (body["generation"], body["stop_reason"]) == ("one two", "length")
    response = converse(client, ECHO, "one two three", inferenceConfig={"maxTokens": 1})
    assert response["output"]["message"]["content"][0]["text"] == "one"
    assert response["stopReason"] == "max_tokens" and response["usage"]["outputTokens"] == 1


# --- the reference classifier ------------------------------------------------------------------


def test_classifier_labels_clear_examples_bare_for_chat(client: Any) -> None:
    for text, label in ((POSITIVE, "positive"), (NEGATIVE, "negative"), (NEUTRAL, "neutral")):
        response = converse(
            client, REFERENCE_MODEL_ARN, text + SEPARATOR, system=[{"text": "Classify."}]
        )
        assert response["output"]["message"]["content"][0]["text"] == label
        body, _ = invoke(
            client,
            "my-classifier",
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": text}],
            },
        )
        assert body["content"][0]["text"] == label


def test_classifier_answers_completion_families_with_a_leading_space(client: Any) -> None:
    body, _ = invoke(client, REFERENCE_MODEL_ARN, {"inputText": NEGATIVE + SEPARATOR})
    assert body["results"][0]["outputText"] == " negative"
    framed = f"Classify.\nUser: {POSITIVE}\nBot:"
    body, _ = invoke(client, REFERENCE_MODEL_ARN, {"inputText": framed})
    assert body["results"][0]["outputText"] == " positive"
    prompt = llama3_prompt(NEUTRAL + SEPARATOR, system="Answer negative if unsure.")
    body, _ = invoke(client, REFERENCE_MODEL_ARN, {"prompt": prompt, "max_gen_len": 5})
    assert body["generation"] == " neutral" and body["generation_token_count"] == 1


def test_without_training_file_reference_model_is_not_found() -> None:
    with start_emulator() as bare:
        code, status, message = error_code(
            lambda: converse(bedrock_client(bare.url), REFERENCE_MODEL_ARN, "hello")
        )
        assert (code, status) == ("ResourceNotFoundException", 404)
        assert "training file" in message
        assert (
            converse(bedrock_client(bare.url), "echo-1", "still here")["output"]["message"][
                "content"
            ][0]["text"]
            == "still here"
        )


# --- errors, validation, faults ------------------------------------------------------------


@pytest.mark.parametrize("error_type", sorted(BEDROCK_ERROR_STATUS))
def test_each_error_type_reaches_boto3(emu: Emulator, client: Any, error_type: str) -> None:
    emu.script([{"error": error_type, "message": f"scripted {error_type}"}])
    code, status, message = error_code(lambda: invoke(client, ECHO, {"inputText": "hi"}))
    assert (code, status, message) == (
        error_type,
        BEDROCK_ERROR_STATUS[error_type],
        f"scripted {error_type}",
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "Malformed input request"),
        ([1, 2], "expected a JSON object"),
        ({"foo": "bar"}, "matches no supported model family"),
        ({"prompt": "x", "max_tokens": 5}, "extraneous key [max_tokens]"),
        ({"prompt": ""}, "must not be empty"),
        ({"prompt": "x", "max_gen_len": "5"}, "expected type: Integer, found: String"),
        ({"prompt": "x", "max_gen_len": 0}, "greater or equal to 1"),
        (
            {"inputText": "x", "textGenerationConfig": {"maxTokenCount": 8193}},
            "less or equal to 8192",
        ),
        ({"inputText": "x", "textGenerationConfig": {"temperature": 1.5}}, "temperature"),
        ({"prompt": "x", "top_p": -0.1}, "top_p"),
        (
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": []},
            "at least one message",
        ),
        (
            {
                "anthropic_version": "2023-06-01",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
            },
            "anthropic_version",
        ),
        (
            {
                "anthropic_version": "bedrock-2023-05-31",
                "messages": [{"role": "user", "content": "x"}],
            },
            "required key [max_tokens]",
        ),
        (
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5,
                "messages": [{"role": "assistant", "content": "x"}],
            },
            "first message",
        ),
        (
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}],
            },
            "alternate",
        ),
        (
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5,
                "stop_sequences": ["\n"],
                "messages": [{"role": "user", "content": "x"}],
            },
            "non-whitespace",
        ),
    ],
)
def test_invoke_validation(client: Any, body: Any, fragment: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body)
    code, status, message = error_code(lambda: client.invoke_model(modelId=ECHO, body=raw))
    assert (code, status) == ("ValidationException", 400)
    assert fragment in message


@pytest.mark.parametrize(
    ("messages", "config", "fragment"),
    [
        ([{"role": "assistant", "content": [{"text": "x"}]}], {}, "start with a user message"),
        (
            [
                {"role": "user", "content": [{"text": "x"}]},
                {"role": "user", "content": [{"text": "y"}]},
            ],
            {},
            "alternate",
        ),
        ([{"role": "user", "content": [{"text": "x"}]}], {"temperature": 1.5}, "temperature"),
        ([{"role": "user", "content": [{"text": "x"}]}], {"maxTokens": 9000}, "8192"),
    ],
)
def test_converse_validation(client: Any, messages: Any, config: Any, fragment: str) -> None:
    code, status, message = error_code(
        lambda: client.converse(modelId=ECHO, messages=messages, inferenceConfig=config)
    )
    assert (code, status) == ("ValidationException", 400) and fragment in message


def test_unknown_model_is_not_found(client: Any) -> None:
    code, status, message = error_code(lambda: converse(client, "amazon.nova-lite-v1:0", "hi"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "amazon.nova-lite-v1:0" in message


def test_throttling_fault_and_stats(emu: Emulator, client: Any) -> None:
    emu.set_faults(throttle_rate=1.0)
    for _ in range(3):
        assert error_code(lambda: converse(client, ECHO, "hi"))[:2] == ("ThrottlingException", 429)
    error_code(lambda: converse(client, "nope", "hi"))
    stats = emu.stats()
    assert stats["total"] == 4
    assert stats["models"][ECHO] == {"total": 3, "outcomes": {"ThrottlingException": 3}}
    assert stats["outcomes"] == {"ThrottlingException": 3, "ResourceNotFoundException": 1}
    assert stats["apis"] == {"converse": 4}


def test_seeded_faults_repeat_the_same_sequence(emu: Emulator, client: Any) -> None:
    def outcomes() -> list[str]:
        seen = []
        for _ in range(30):
            try:
                converse(client, ECHO, "hi")
                seen.append("ok")
            except ClientError as error:
                seen.append(error.response["Error"]["Code"])
        return seen

    emu.set_faults(throttle_rate=0.3, internal_error_rate=0.3, seed=7)
    first = outcomes()
    emu.set_faults(throttle_rate=0.3, internal_error_rate=0.3, seed=7)
    assert outcomes() == first
    assert set(first) == {"ok", "ThrottlingException", "InternalServerException"}


def test_timeout_fault_fires_the_client_read_timeout(train_file: Path) -> None:
    with start_emulator(faults={"timeout_rate": 1.0, "timeout_seconds": 2}) as slow:
        impatient = bedrock_client(slow.url, read_timeout=0.5)
        with pytest.raises(ReadTimeoutError):
            converse(impatient, ECHO, "hi")
        assert slow.stats()["outcomes"] == {"timeout": 1}


def test_malformed_bodies_arrive_with_status_200(emu: Emulator, client: Any) -> None:
    emu.set_faults(malformed_rate=1.0, malformed_kind="invalid_json")
    response = client.invoke_model(modelId=ECHO, body=json.dumps({"inputText": "hi"}))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ValueError):
        json.loads(response["body"].read())
    emu.set_faults(malformed_rate=1.0, malformed_kind="missing_fields")
    body, _ = invoke(client, ECHO, {"inputText": "hi"})
    assert "results" not in body
    assert emu.stats()["outcomes"] == {"malformed": 2}


def test_script_is_consumed_in_order_and_per_model(emu: Emulator, client: Any) -> None:
    emu.script(
        [
            {"model_id": "echo-other", "text": "for the other model"},
            {"error": "ThrottlingException"},
            {"text": "scripted answer END ignored"},
            {"status": 200, "raw_body": '{"weird": 1}'},
            {"delay_ms": 5},
        ]
    )
    assert error_code(lambda: converse(client, ECHO, "a"))[0] == "ThrottlingException"
    body, _ = invoke(
        client, ECHO, {"inputText": "b", "textGenerationConfig": {"stopSequences": ["END"]}}
    )
    assert body["results"][0]["outputText"] == "scripted answer "
    assert invoke(client, ECHO, {"inputText": "c"})[0] == {"weird": 1}
    assert (
        converse(client, ECHO, "normal again")["output"]["message"]["content"][0]["text"]
        == "normal again"
    )
    assert emu.stats()["script_pending"] == 1
    assert (
        converse(client, "echo-other", "x")["output"]["message"]["content"][0]["text"]
        == "for the other model"
    )
    assert emu.stats()["script_pending"] == 0


def test_reset_turns_everything_off(emu: Emulator, client: Any) -> None:
    emu.set_faults(throttle_rate=1.0)
    emu.script([{"text": "pending"}])
    error_code(lambda: converse(client, "nope", "x"))
    emu.reset()
    assert emu.stats() == {
        "total": 0,
        "outcomes": {},
        "apis": {},
        "models": {},
        "script_pending": 0,
    }
    assert converse(client, ECHO, "fine")["output"]["message"]["content"][0]["text"] == "fine"


def test_reset_returns_to_the_start_up_faults() -> None:
    with start_emulator(faults={"throttle_rate": 1.0}) as throttled:
        client = bedrock_client(throttled.url)
        assert error_code(lambda: converse(client, ECHO, "x"))[0] == "ThrottlingException"
        throttled.set_faults()
        assert converse(client, ECHO, "x")["stopReason"] == "end_turn"
        throttled.reset()
        assert error_code(lambda: converse(client, ECHO, "x"))[0] == "ThrottlingException"


def test_concurrent_clients_are_served_in_parallel(emu: Emulator) -> None:
    emu.script([{"delay_ms": 300}] * 8)  # requests held at once: the threaded server overlaps them

    def one(index: int) -> str:
        client = bedrock_client(emu.url)
        return converse(client, ECHO, f"caller {index}")["output"]["message"]["content"][0]["text"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert answers == [f"caller {index}" for index in range(8)]
    assert emu.stats()["models"][ECHO] == {"total": 8, "outcomes": {"ok": 8}}


def test_keep_alive_reuses_one_connection(emu: Emulator) -> None:
    fresh = bedrock_client(emu.url)
    before = emu.connections
    for index in range(200):
        text = f"request number {index}"
        assert invoke(fresh, ECHO, {"inputText": text})[0]["results"][0]["outputText"] == text
    assert emu.connections - before == 1
    assert emu.stats()["models"][ECHO]["outcomes"] == {"ok": 200}


# --- OpenAI-compatible routes ----------------------------------------------------------------


def test_openai_completions_echo_and_classifier(emu: Emulator) -> None:
    status, body = openai(
        emu,
        "completions",
        {"model": "my-echo", "prompt": "a b c" + SEPARATOR, "max_tokens": 10, "temperature": 0},
    )
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0] == {
        "index": 0,
        "text": "a b c" + SEPARATOR,
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    status, body = openai(
        emu,
        "completions",
        {
            "model": OPENAI_REFERENCE_MODEL,
            "prompt": POSITIVE + SEPARATOR,
            "max_tokens": 1,
            "stop": ["\n"],
        },
    )
    assert status == 200 and body["choices"][0]["text"] == " positive"


def test_openai_chat_echo_and_classifier(emu: Emulator) -> None:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "x y z"}]
    status, body = openai(
        emu, "chat/completions", {"model": "echo", "messages": messages, "max_tokens": 2}
    )
    assert status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "x y"}
    assert body["choices"][0]["finish_reason"] == "length"
    status, body = openai(
        emu,
        "chat/completions",
        {"model": OPENAI_REFERENCE_MODEL, "messages": [{"role": "user", "content": NEGATIVE}]},
    )
    assert status == 200 and body["choices"][0]["message"]["content"] == "negative"


def test_openai_errors(emu: Emulator) -> None:
    chat = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    for key in (None, "", " "):
        status, body = openai(emu, "chat/completions", chat, key=key)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert set(body["error"]) >= {"message", "type", "code"}
    status, body = openai(emu, "completions", {"model": "gpt-unknown", "prompt": "x"})
    assert status == 404 and body["error"]["code"] == "model_not_found"
    status, body = openai(emu, "chat/completions", {"model": "echo", "messages": []})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = openai(emu, "completions", {"model": "echo", "prompt": "x", "temperature": 3})
    assert status == 400 and body["error"]["param"] == "temperature"
    for fault, expected in (
        ("throttle_rate", 429),
        ("internal_error_rate", 500),
        ("unavailable_rate", 503),
    ):
        emu.set_faults(**{fault: 1.0})
        status, body = openai(emu, "chat/completions", chat)
        assert status == expected and body["error"]["message"]
    emu.reset()
    emu.script([{"error": "ThrottlingException", "message": "slow down"}])
    status, body = openai(emu, "chat/completions", chat)
    assert (status, body["error"]["message"]) == (429, "slow down")
    assert emu.stats()["models"]["echo"]["outcomes"] == {"ThrottlingException": 1}


# --- control routes and CLI --------------------------------------------------------------------


def test_control_routes_over_http(emu: Emulator, client: Any) -> None:
    status, health = http(emu, "GET", "/_emulator/health")
    assert status == 200 and health["status"] == "ok"
    assert health["reference_model"]["labels"] == ["negative", "neutral", "positive"]
    assert http(emu, "POST", "/_emulator/faults", {"throttle_rate": 2})[0] == 400
    assert http(emu, "POST", "/_emulator/faults", {"bogus": 1})[0] == 400
    status, faults = http(emu, "POST", "/_emulator/faults", {"model_error_rate": 1.0})
    assert status == 200 and faults["model_error_rate"] == 1.0 and faults["throttle_rate"] == 0
    assert error_code(lambda: converse(client, ECHO, "x"))[:2] == ("ModelErrorException", 424)
    # Control routes never see faults themselves.
    assert http(emu, "GET", "/_emulator/stats")[1]["outcomes"] == {"ModelErrorException": 1}
    assert http(emu, "POST", "/_emulator/script", [{"error": "NoSuchError"}])[0] == 400
    assert http(emu, "POST", "/_emulator/script", [{"text": "one"}, {"text": "two"}]) == (
        200,
        {"pending": 2},
    )
    assert http(emu, "POST", "/_emulator/reset", {}) == (200, {"status": "reset"})
    assert http(emu, "GET", "/_emulator/stats")[1]["script_pending"] == 0
    assert converse(client, ECHO, "ok now")["stopReason"] == "end_turn"
    assert http(emu, "GET", "/_emulator/nothing")[0] == 404


def test_cli_prints_ready_line_and_stops_on_sigterm(train_file: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--train-file", str(train_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("emulator ready on http://127.0.0.1:")
        url = line.removeprefix("emulator ready on ")
        with urllib.request.urlopen(url + "/_emulator/health", timeout=10) as response:
            assert json.loads(response.read())["reference_model"]["loaded"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_base_model_answers_like_an_untuned_model(client: Any) -> None:
    from emulator import BASE_MODEL_ID
    from emulator.base_model import base_answer

    for text in (
        "Great drug, it helped so much, highly recommend.",
        "Terrible, made me sick, I quit.",
        "It is a pill.",
    ):
        response = converse(client, BASE_MODEL_ID, text + "\n\n###\n\n")
        answer = response["output"]["message"]["content"][0]["text"]
        assert answer == base_answer(text)
    assert base_answer("It is a pill.").startswith("The review seems mixed")
