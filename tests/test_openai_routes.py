"""The OpenAI-compatible routes in process (chalice.test.Client -> app -> boto3 -> emulator):
the trained format applied server-side, stops, bounds, refusals, auth and OpenAI's error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.models import ModelsResponse
from chalicelib.config.registry import Deployment
from chalicelib.openai_api.models import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionResponse,
)
from chalicelib.openai_api.service import generation_params
from tests.conftest import API_KEY

SEP = "\n\n###\n\n"
POSITIVE = "This medicine worked wonders, I feel great and have no side effects at all."
NEGATIVE = "Terrible. It made me sick, I had awful side effects and it did not help."
BEARER = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}


def post(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, headers=headers or BEARER, body=json.dumps(body))


def openai_error(response: Any) -> dict[str, Any]:
    body = json.loads(response.body)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error) and error["message"]
    return dict(error)


def test_chat_completion_applies_the_trained_format_and_records_the_invocation(
    client: Any, stack: Any
) -> None:
    response = post(
        client,
        "/v1/chat/completions",
        {"model": "sentiment-converse", "messages": [{"role": "user", "content": POSITIVE}]},
    )
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    ChatCompletionResponse.model_validate(body)  # the shape the OpenAPI document promises
    assert body["object"] == "chat.completion" and body["model"] == "sentiment-converse"
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": "positive", "refusal": None}
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    tunegate = body["tunegate"]
    assert tunegate["prediction"] == "positive" and tunegate["version"] == 1
    assert tunegate["feedback_token"] and body["id"] == f"chatcmpl-{tunegate['invocation_id']}"
    record = stack.runtime.invocations.get(tunegate["invocation_id"])
    assert record.model == "sentiment-converse" and record.prediction == "positive"
    # the deployment's system prompt reached the model: the stored input shows it
    assert record.input["system"] == "Classify the sentiment of this drug review."


def test_chat_system_and_turns_map_onto_the_family(client: Any) -> None:
    """Echo deployments answer with what the model was sent: the template and separator on the
    last user turn; a system message replaces the deployment's system prompt."""
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    response = post(client, "/v1/chat/completions", {"model": "echo-titan", "messages": messages})
    assert response.status_code == 200, response.body
    text = json.loads(response.body)["choices"][0]["message"]["content"]
    assert text == f"Be terse.\nUser: first\nBot: ok\nUser: Review: second{SEP}\nBot:"
    alone = [{"role": "user", "content": "only"}]
    response = post(client, "/v1/chat/completions", {"model": "echo-titan", "messages": alone})
    text = json.loads(response.body)["choices"][0]["message"]["content"]
    assert text == f"Be brief.\nUser: Review: only{SEP}\nBot:"  # the deployment's system


def test_completions_answer_a_prompt_list_in_order_one_invocation_each(client: Any) -> None:
    prompts = [POSITIVE, NEGATIVE + SEP, POSITIVE, NEGATIVE]
    body = {"model": "sentiment-legacy", "prompt": prompts, "max_tokens": 256}
    response = post(client, "/v1/completions", body)
    assert response.status_code == 200, response.body
    answer = json.loads(response.body)
    CompletionResponse.model_validate(answer)
    assert answer["object"] == "text_completion"
    choices = answer["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3]
    # the legacy model answers " label", as it was tuned; the separator went on exactly once
    assert [c["text"] for c in choices] == [" positive", " negative", " positive", " negative"]
    assert [c["tunegate"]["prediction"] for c in choices] == [
        "positive",
        "negative",
        "positive",
        "negative",
    ]
    ids = {c["tunegate"]["invocation_id"] for c in choices}
    assert len(ids) == 4 and answer["tunegate"] == choices[0]["tunegate"]


@pytest.mark.parametrize(
    "model",
    ["echo-converse", "echo-anthropic", "echo-llama3", "echo-titan", "echo-openai-completions"],
)
def test_any_number_of_stops_is_applied(client: Any, model: str) -> None:
    """Six stops, more than any family takes natively except Anthropic; the last one cuts."""
    stops = ["zz1", "zz2", "zz3", "zz4", "zz5", "gamma"]
    body = {"model": model, "prompt": "alpha beta gamma delta", "stop": stops}
    response = post(client, "/v1/completions", body)
    assert response.status_code == 200, response.body
    [choice] = json.loads(response.body)["choices"]
    assert choice["finish_reason"] == "stop"
    assert "gamma" not in choice["text"] and "alpha beta" in choice["text"]


def test_max_tokens_is_clamped_not_refused_and_length_is_reported(client: Any) -> None:
    long_input = " ".join(f"w{i}" for i in range(400))
    for field in ("max_tokens", "max_completion_tokens"):
        body = {"model": "echo-converse", "prompt": long_input, field: 100_000}
        response = post(client, "/v1/completions", body)
        assert response.status_code == 200, response.body
        answer = json.loads(response.body)
        assert answer["choices"][0]["finish_reason"] == "length"
        assert answer["usage"]["completion_tokens"] == 200  # the deployment's bound
    small = post(
        client, "/v1/completions", {"model": "echo-converse", "prompt": "a b c d", "max_tokens": 2}
    )
    assert json.loads(small.body)["choices"][0]["finish_reason"] == "length"
    assert json.loads(small.body)["usage"]["completion_tokens"] == 2


def test_unknown_sampling_fields_are_ignored(client: Any) -> None:
    body = {
        "model": "sentiment-converse",
        "messages": [{"role": "user", "content": NEGATIVE}],
        "frequency_penalty": 0.5,
        "presence_penalty": 0,
        "logit_bias": {"50256": -100},
        "do_sample": False,
        "seed": 1234,
        "temperature": 0,
        "top_p": 1,
        "user": "session-1",
        "n": 1,
        "stream": False,
        "logprobs": False,
    }
    response = post(client, "/v1/chat/completions", body)
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["tunegate"]["prediction"] == "negative"


@pytest.mark.parametrize(
    ("path", "extra", "param", "why"),
    [
        ("/v1/completions", {"n": 2}, "n", "n > 1"),
        ("/v1/completions", {"logprobs": 5}, "logprobs", "log-probabilities"),
        ("/v1/completions", {"echo": True}, "echo", "loglikelihood"),
        ("/v1/completions", {"stream": True}, "stream", "stream"),
        ("/v1/chat/completions", {"logprobs": True}, "logprobs", "log-probabilities"),
        ("/v1/chat/completions", {"stream": True}, "stream", "stream"),
    ],
)
def test_what_cannot_be_honoured_is_a_400_that_says_why(
    client: Any, path: str, extra: dict[str, Any], param: str, why: str
) -> None:
    base: dict[str, Any] = {"model": "sentiment-converse"}
    if path.endswith("chat/completions"):
        base["messages"] = [{"role": "user", "content": POSITIVE}]
    else:
        base["prompt"] = POSITIVE
    response = post(client, path, {**base, **extra})
    assert response.status_code == 400
    error = openai_error(response)
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["param"] == param and why in error["message"]


def test_token_id_prompts_and_bad_bodies_are_400_with_the_field(client: Any) -> None:
    tokens = post(client, "/v1/completions", {"model": "sentiment-converse", "prompt": [1, 2]})
    assert tokens.status_code == 400 and "token-id" in openai_error(tokens)["message"]
    missing = post(client, "/v1/chat/completions", {"model": "sentiment-converse"})
    assert missing.status_code == 400 and openai_error(missing)["param"] == "messages"
    tool = {"model": "sentiment-converse", "messages": [{"role": "tool", "content": "x"}]}
    assert post(client, "/v1/chat/completions", tool).status_code == 400
    ends_with_assistant = {
        "model": "sentiment-converse",
        "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
    }
    assert post(client, "/v1/chat/completions", ends_with_assistant).status_code == 400


def test_unknown_models_and_versions_are_404(client: Any) -> None:
    unknown = post(client, "/v1/completions", {"model": "nope", "prompt": "x"})
    assert unknown.status_code == 404
    assert (
        openai_error(unknown)["code"] == "not_found" and openai_error(unknown)["param"] == "model"
    )
    versioned = post(client, "/v1/completions", {"model": "sentiment-converse@99", "prompt": "x"})
    assert versioned.status_code == 404
    assert "has no version 99" in openai_error(versioned)["message"]
    assert openai_error(versioned)["param"] == "model"
    pinned = post(client, "/v1/completions", {"model": "sentiment-converse@1", "prompt": "x"})
    assert pinned.status_code == 200
    assert json.loads(pinned.body)["tunegate"]["version"] == 1


def test_bearer_or_x_api_key_and_openai_shaped_401(client: Any) -> None:
    body = {"model": "sentiment-converse", "prompt": POSITIVE}
    via_header = {"x-api-key": API_KEY, "content-type": "application/json"}
    assert post(client, "/v1/completions", body, via_header).status_code == 200
    lowercase = {"authorization": f"bearer {API_KEY}", "content-type": "application/json"}
    assert post(client, "/v1/completions", body, lowercase).status_code == 200
    for headers in (
        {"content-type": "application/json"},
        {"authorization": f"Bearer {API_KEY}x", "content-type": "application/json"},
        {"authorization": f"Basic {API_KEY}", "content-type": "application/json"},
    ):
        response = post(client, "/v1/completions", body, headers)
        assert response.status_code == 401
        error = openai_error(response)
        assert error["type"] == "authentication_error" and error["code"] == "unauthorized"


def test_throttling_is_429_with_retry_after_in_openai_shape(client: Any, emulator: Any) -> None:
    emulator.set_faults(throttle_rate=1.0)
    body = {"model": "sentiment-converse", "messages": [{"role": "user", "content": POSITIVE}]}
    response = post(client, "/v1/chat/completions", body)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    error = openai_error(response)
    assert error["code"] == "throttled" and error["type"] == "rate_limit_error"


def test_models_answer_both_shapes_with_either_header(client: Any) -> None:
    for headers in ({"authorization": f"Bearer {API_KEY}"}, {"x-api-key": API_KEY}):
        response = client.http.get("/v1/models", headers=headers)
        assert response.status_code == 200
        body = json.loads(response.body)
        ModelsResponse.model_validate(body)
        assert body["object"] == "list"
        ids = [m["id"] for m in body["data"]]
        assert ids == [m["name"] for m in body["models"]] and "sentiment-converse" in ids
        assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])


def _deployment(provider: str) -> Deployment:
    extra = {"base_url": "https://x.test/v1"} if provider == "openai" else {}
    fmt = "chat" if provider == "openai" else "converse"
    return Deployment.model_validate(
        {
            "name": "d",
            "provider": provider,
            "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
            "request_format": fmt,
            "inference": {"max_tokens": 5, "stop": ["\n"]},
            **extra,
        }
    )


def test_sampling_fields_go_where_the_family_takes_them() -> None:
    request = ChatCompletionRequest.model_validate(
        {
            "model": "d",
            "messages": [{"role": "user", "content": "x"}],
            "seed": 7,
            "temperature": 1.5,
            "top_p": 0.5,
            "stop": "###",
            "max_tokens": 256,
        }
    )
    bedrock = generation_params(_deployment("bedrock"), request)
    assert (bedrock.seed, bedrock.temperature, bedrock.top_p) == (None, 1.0, 0.5)
    assert bedrock.stop == ("\n", "###") and bedrock.max_tokens == 5
    openai = generation_params(_deployment("openai"), request)
    assert (openai.seed, openai.temperature) == (7, 1.5)
