"""The invoke API end to end: chalice.test.Client -> app -> real boto3 -> emulator over HTTP,
invocations recorded in DynamoDB on the moto server."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import API_KEY, auth_headers

SEP = "\n\n###\n\n"
POSITIVE = "This medicine worked wonders, I feel great and have no side effects at all."
NEGATIVE = "Terrible. It made me sick, I had awful side effects and it did not help."


def post(client: Any, path: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post(path, headers=auth_headers(**headers), body=raw)


def invoke(client: Any, model: str, body: Any, **headers: str) -> Any:
    return post(client, f"/v1/models/{model}/invoke", body, **headers)


def error_of(response: Any) -> dict[str, Any]:
    body = json.loads(response.body)
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_health_is_public(client: Any) -> None:
    response = client.http.get("/health")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["status"] == "ok" and body["stage"] == "test" and body["version"]


def test_models_need_a_key_and_hide_arns(client: Any) -> None:
    assert client.http.get("/v1/models").status_code == 401
    wrong = client.http.get("/v1/models", headers={"x-api-key": API_KEY + "x"})
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "unauthorized"
    response = client.http.get("/v1/models", headers={"x-api-key": API_KEY})
    assert response.status_code == 200
    models = json.loads(response.body)["models"]
    names = {m["name"] for m in models}
    assert {"sentiment-converse", "echo-llama3", "echo-openai-chat"} <= names
    assert "arn:aws" not in response.body.decode()
    assert set(models[0]) == {"name", "provider", "request_format", "output"}


def test_invoke_needs_a_key(client: Any) -> None:
    response = client.http.post(
        "/v1/models/echo-converse/invoke",
        headers={"content-type": "application/json"},
        body=json.dumps({"input": "x"}),
    )
    assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("echo-converse", "Review: good stuff" + SEP),
        ("echo-anthropic", "Review: good stuff" + SEP),
        ("echo-titan", "Be brief.\nUser: Review: good stuff" + SEP + "\nBot:"),
        (
            "echo-llama3",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nReview: good stuff" + SEP + "<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
        ("echo-openai-completions", "good stuff" + SEP),
        ("echo-openai-chat", "good stuff" + SEP),
    ],
)
def test_each_family_gets_the_trained_format(client: Any, model: str, expected: str) -> None:
    for text in ("good stuff", "good stuff" + SEP):  # the separator is never doubled
        response = invoke(client, model, {"input": text})
        assert response.status_code == 200, response.body
        body = json.loads(response.body)
        assert body["output"] == expected
        assert body["prediction"] is None and body["valid"] is True
        assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("model", ["echo-converse", "echo-llama3", "echo-openai-completions"])
def test_stop_sequences_and_lower_max_tokens(client: Any, model: str) -> None:
    response = invoke(client, model, {"input": "alpha beta END gamma"})
    assert json.loads(response.body)["output"].endswith("alpha beta ")
    response = invoke(client, model, {"input": "a b c ZZ e f", "parameters": {"stop": ["ZZ"]}})
    assert json.loads(response.body)["output"].endswith("a b c ")
    response = invoke(client, model, {"input": "one two three", "parameters": {"max_tokens": 2}})
    assert response.status_code == 200
    assert len(json.loads(response.body)["output"].split()) <= 2


def test_whitespace_stop_is_honoured_by_anthropic_deployments(client: Any) -> None:
    response = invoke(client, "echo-anthropic", {"input": "a\nb", "parameters": {"stop": ["\n"]}})
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["output"] == "Review: a"


def test_messages_and_system_override(client: Any) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
        "system": "Override.",
    }
    response = invoke(client, "echo-openai-completions", body)
    assert json.loads(response.body)["output"] == (
        "Override.\nUser: first\nAssistant: ok\nUser: second" + SEP + "\nAssistant:"
    )


def test_reference_model_answers_with_real_predictions(client: Any) -> None:
    for model in ("sentiment-converse", "sentiment-legacy"):
        good = json.loads(invoke(client, model, {"input": POSITIVE}).body)
        bad = json.loads(invoke(client, model, {"input": NEGATIVE}).body)
        assert (good["prediction"], bad["prediction"]) == ("positive", "negative")
        assert good["valid"] and bad["valid"]
    legacy = json.loads(invoke(client, "sentiment-legacy", {"input": POSITIVE}).body)
    assert legacy["output"] == " positive"  # tuned on completions with a leading space


def test_invocation_is_recorded(client: Any, stack: Any) -> None:
    response = invoke(client, "sentiment-converse", {"input": POSITIVE, "metadata": {"s": "1"}})
    body = json.loads(response.body)
    table = boto3.client("dynamodb").get_item(
        TableName="tunegate-test-invocations", Key={"invocation_id": {"S": body["invocation_id"]}}
    )["Item"]
    assert table["model"]["S"] == "sentiment-converse"
    assert table["status"]["S"] == "ok" and table["prediction"]["S"] == "positive"
    assert len(table["input_sha256"]["S"]) == 64
    assert table["metadata"]["M"] == {"s": {"S": "1"}}
    assert POSITIVE in table["input"]["M"]["messages"]["L"][0]["M"]["content"]["S"]
    legacy = json.loads(invoke(client, "sentiment-legacy", {"input": POSITIVE}).body)
    item = boto3.client("dynamodb").get_item(
        TableName="tunegate-test-invocations",
        Key={"invocation_id": {"S": legacy["invocation_id"]}},
    )["Item"]
    assert "input" not in item and "output" not in item  # store_inputs is false


def test_feedback_token_is_bound_to_the_invocation(client: Any) -> None:
    """An answer's token verifies for its own invocation and model, and for no other."""
    from chalicelib.errors import InvalidFeedbackToken
    from chalicelib.serving.feedback_tokens import verify_feedback_token

    first = json.loads(invoke(client, "echo-converse", {"input": "x"}).body)
    second = json.loads(invoke(client, "echo-converse", {"input": "y"}).body)
    secret = b"test-feedback-secret"
    token, invocation = first["feedback_token"], first["invocation_id"]
    verify_feedback_token(secret, token, invocation, "echo-converse", now=0)
    with pytest.raises(InvalidFeedbackToken):  # another invocation
        verify_feedback_token(secret, token, second["invocation_id"], "echo-converse", now=0)
    with pytest.raises(InvalidFeedbackToken):  # another model
        verify_feedback_token(secret, token, invocation, "sentiment-converse", now=0)
    with pytest.raises(InvalidFeedbackToken):  # another secret
        verify_feedback_token(b"other", token, invocation, "echo-converse", now=0)


def test_number_output(client: Any, emulator: Any) -> None:
    assert json.loads(invoke(client, "echo-number", {"input": "7 of 10"}).body)["prediction"] == 7
    out_of_range = json.loads(invoke(client, "echo-number", {"input": "42"}).body)
    assert out_of_range["prediction"] is None and out_of_range["valid"] is False


def test_unparseable_label_is_invalid_not_an_error(client: Any, emulator: Any) -> None:
    emulator.script([{"text": "I cannot tell"}])
    body = json.loads(invoke(client, "sentiment-converse", {"input": POSITIVE}).body)
    assert body["prediction"] is None and body["valid"] is False
    assert body["output"] == "I cannot tell"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": 5}, "input"),
        ({"input": "x", "extra": 1}, "extra"),
        ({}, "(body)"),
        ({"input": "x", "messages": [{"role": "user", "content": "y"}]}, "(body)"),
        ({"messages": [{"role": "assistant", "content": "y"}]}, "(body)"),
        ({"messages": [{"role": "system", "content": "y"}]}, "messages.0.role"),
        ({"input": ""}, "input"),
        ({"input": "x", "parameters": {"max_tokens": 201}}, "parameters.max_tokens"),
        ({"input": "x", "parameters": {"max_tokens": "5"}}, "parameters.max_tokens"),
        ({"input": "x", "parameters": {"temperature": 1.5}}, "parameters.temperature"),
        ({"input": "x", "parameters": {"stop": ["a"] * 9}}, "parameters.stop"),
        ({"input": "x", "parameters": {"seed": 1}}, "parameters.seed"),
        ({"input": "x", "metadata": {"k": 1}}, "metadata.k"),
        ([1, 2], "(body)"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(client: Any, body: Any, field: str) -> None:
    response = invoke(client, "echo-converse", body)
    assert response.status_code == 400, response.body
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert field in {d["field"] for d in error["details"]}


@pytest.mark.parametrize("raw", [b"{not json", b"", b"   ", b'{"input": "x"', b"\xff\xfe"])
def test_malformed_json(client: Any, raw: bytes) -> None:
    response = invoke(client, "echo-converse", raw)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_request"


def test_limits_and_unknowns(client: Any) -> None:
    huge = invoke(client, "echo-converse", {"input": "x" * 300_000})
    assert huge.status_code == 413 and error_of(huge)["code"] == "payload_too_large"
    long_input = invoke(client, "echo-converse", {"input": "x" * 150_000})
    assert long_input.status_code == 413
    missing = invoke(client, "no-such-model", {"input": "x"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong_type = invoke(client, "echo-converse", "input=x", **{"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    assert error_of(wrong_type)["code"] == "unsupported_media_type"


# Bedrock error type -> (status, code, Retry-After present). Retryable types are scripted three
# times, because the client makes three attempts before giving up.
BEDROCK_ERRORS = [
    ("ThrottlingException", 429, "throttled", True),
    ("ServiceQuotaExceededException", 429, "throttled", True),
    ("ModelNotReadyException", 503, "model_not_ready", True),
    ("ServiceUnavailableException", 503, "model_not_ready", True),
    ("InternalServerException", 502, "model_error", False),
    ("ModelTimeoutException", 504, "model_timeout", False),
    ("ModelErrorException", 502, "model_error", False),
    ("ValidationException", 400, "invalid_request", False),
    ("AccessDeniedException", 502, "model_error", False),
    ("ResourceNotFoundException", 502, "model_error", False),
]


@pytest.mark.parametrize(("error", "status", "code", "retry_after"), BEDROCK_ERRORS)
def test_bedrock_errors_map_to_contract(
    client: Any, emulator: Any, error: str, status: int, code: str, retry_after: bool
) -> None:
    emulator.script([{"error": error, "message": "scripted"}] * 3)
    response = invoke(client, "sentiment-converse", {"input": POSITIVE})
    assert response.status_code == status, response.body
    assert error_of(response)["code"] == code
    assert ("Retry-After" in response.headers) == retry_after
    assert "Traceback" not in response.body.decode()


def test_transient_throttling_is_retried(client: Any, emulator: Any) -> None:
    emulator.script([{"error": "ThrottlingException"}])
    response = invoke(client, "sentiment-converse", {"input": POSITIVE})
    assert response.status_code == 200
    assert json.loads(response.body)["prediction"] == "positive"


def test_timeout_and_malformed_answers(client: Any, emulator: Any) -> None:
    emulator.set_faults(timeout_rate=1.0, timeout_seconds=1.5)
    response = invoke(client, "echo-anthropic", {"input": "x"})
    assert response.status_code == 504 and error_of(response)["code"] == "model_timeout"
    for kind in ("invalid_json", "missing_fields"):
        emulator.reset()
        emulator.set_faults(malformed_rate=1.0, malformed_kind=kind)
        for model in ("echo-anthropic", "echo-converse", "echo-llama3", "echo-openai-chat"):
            response = invoke(client, model, {"input": "x"})
            assert response.status_code == 502, (kind, model, response.body)
            assert error_of(response)["code"] == "model_error"


def test_openai_errors_map_to_contract(client: Any, emulator: Any) -> None:
    emulator.set_faults(throttle_rate=1.0)
    response = invoke(client, "echo-openai-chat", {"input": "x"})
    assert response.status_code == 429 and response.headers["Retry-After"]
