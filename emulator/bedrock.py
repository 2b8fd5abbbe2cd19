"""Bedrock Runtime request families: validate bodies as Bedrock does and shape the answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from emulator import checks
from emulator.checks import Invalid
from emulator.models import MAX_TOKENS_LIMIT, Generation, ModelRequest, count_words
from emulator.reference_model import llama3_user_text, titan_user_text
from emulator.wire import ApiError, Reply, json_reply

ANTHROPIC_VERSION = "bedrock-2023-05-31"
DEFAULT_MAX_TOKENS = 512
_ANTHROPIC_KEYS = {
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "system",
    "messages",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "tools",
    "tool_choice",
}
_LLAMA_KEYS = {"prompt", "max_gen_len", "temperature", "top_p"}
_TITAN_KEYS = {"inputText", "textGenerationConfig"}
_TITAN_CONFIG_KEYS = {"maxTokenCount", "temperature", "topP", "stopSequences"}
_CONVERSE_KEYS = {
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "promptVariables",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "serviceTier",
    "outputConfig",
}
_CONVERSE_CONFIG_KEYS = {"maxTokens", "temperature", "topP", "stopSequences"}


def _malformed(detail: str) -> ApiError:
    return ApiError(
        "ValidationException",
        f"Malformed input request: {detail}, please reformat your input and try again.",
    )


# --- InvokeModel ---------------------------------------------------------------------------


def parse_invoke(raw: bytes) -> ModelRequest:
    try:
        body = checks.parse_object(raw)
        if "anthropic_version" in body or "messages" in body:
            return _anthropic(body)
        if "prompt" in body:
            return _llama3(body)
        if "inputText" in body:
            return _titan(body)
    except Invalid as problem:
        raise _malformed(problem.detail) from None
    raise _malformed(
        "the body matches no supported model family (expected an Anthropic Messages body "
        "with anthropic_version and messages, a Llama 3 body with prompt, or a Titan Text "
        "body with inputText)"
    )


def _anthropic_text(content: Any, path: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise Invalid(f"{path}: expected a string or a non-empty list of content blocks")
    parts = []
    for index, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise Invalid(f"{path}.{index}: only text content blocks are supported")
        parts.append(checks.text(block, "text", f"{path}.{index}.text") or "")
    return "".join(parts)


def _anthropic(body: dict[str, Any]) -> ModelRequest:
    checks.no_extra_keys(body, _ANTHROPIC_KEYS)
    version = body.get("anthropic_version")
    if version != ANTHROPIC_VERSION:
        raise Invalid(f"anthropic_version: must be {ANTHROPIC_VERSION!r}, found {version!r}")
    max_tokens = checks.integer(body, "max_tokens", "#/max_tokens", None, 1, MAX_TOKENS_LIMIT)
    checks.number(body, "temperature", "#/temperature")
    checks.number(body, "top_p", "#/top_p")
    stop = checks.text_list(body, "stop_sequences", "#/stop_sequences", 8191)
    if any(not sequence.strip() for sequence in stop):
        raise Invalid("stop_sequences: each stop sequence must contain non-whitespace")
    system = body.get("system")
    system_text = "" if system is None else _anthropic_text(system, "system")
    roles, texts = _conversation(body.get("messages"), _anthropic_text, _ANTHROPIC_WORDING)
    return _chat_request("anthropic", system_text, roles, texts, max_tokens, stop)


def _llama3(body: dict[str, Any]) -> ModelRequest:
    checks.no_extra_keys(body, _LLAMA_KEYS)
    prompt = checks.text(body, "prompt", "#/prompt") or ""
    if not prompt.strip():
        raise Invalid("#/prompt: must not be empty")
    max_tokens = checks.integer(
        body, "max_gen_len", "#/max_gen_len", DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT
    )
    checks.number(body, "temperature", "#/temperature")
    checks.number(body, "top_p", "#/top_p")
    return ModelRequest(
        family="llama3",
        echo_text=prompt,
        classify_text=llama3_user_text(prompt),
        input_tokens=count_words(prompt),
        max_tokens=max_tokens,
        stop=(),
        completion_style=True,
    )


def _titan(body: dict[str, Any]) -> ModelRequest:
    checks.no_extra_keys(body, _TITAN_KEYS)
    input_text = checks.text(body, "inputText", "#/inputText") or ""
    if not input_text.strip():
        raise Invalid("#/inputText: must not be empty")
    config = body.get("textGenerationConfig") or {}
    if not isinstance(config, dict):
        raise Invalid(
            f"#/textGenerationConfig: expected type: Object, found: {checks.type_name(config)}"
        )
    checks.no_extra_keys(config, _TITAN_CONFIG_KEYS, "textGenerationConfig.")
    max_tokens = checks.integer(
        config,
        "maxTokenCount",
        "#/textGenerationConfig/maxTokenCount",
        DEFAULT_MAX_TOKENS,
        1,
        MAX_TOKENS_LIMIT,
    )
    checks.number(config, "temperature", "#/textGenerationConfig/temperature")
    checks.number(config, "topP", "#/textGenerationConfig/topP")
    stop = checks.text_list(config, "stopSequences", "#/textGenerationConfig/stopSequences", 4)
    return ModelRequest(
        family="titan",
        echo_text=input_text,
        classify_text=titan_user_text(input_text),
        input_tokens=count_words(input_text),
        max_tokens=max_tokens,
        stop=stop,
        completion_style=True,
    )


# --- Converse ------------------------------------------------------------------------------


def parse_converse(raw: bytes) -> ModelRequest:
    try:
        return _converse(checks.parse_object(raw))
    except Invalid as problem:
        raise ApiError("ValidationException", problem.detail) from None


def _blocks_text(blocks: Any, path: str) -> str:
    if not isinstance(blocks, list) or not blocks:
        raise Invalid(f"The value at {path} must be a non-empty list of content blocks.")
    parts = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            raise Invalid(
                f"The value at {path}.{index} is not supported by this model: "
                "only text content blocks are."
            )
        parts.append(block["text"])
    return "".join(parts)


def _converse(body: dict[str, Any]) -> ModelRequest:
    checks.no_extra_keys(body, _CONVERSE_KEYS)
    roles, texts = _conversation(body.get("messages"), _blocks_text, _CONVERSE_WORDING)
    system = body.get("system")
    system_text = "" if system is None else _blocks_text(system, "system")
    config = body.get("inferenceConfig") or {}
    if not isinstance(config, dict):
        raise Invalid("The value at inferenceConfig must be an object.")
    checks.no_extra_keys(config, _CONVERSE_CONFIG_KEYS, "inferenceConfig.")
    max_tokens = checks.integer(
        config, "maxTokens", "inferenceConfig.maxTokens", DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT
    )
    checks.number(config, "temperature", "inferenceConfig.temperature")
    checks.number(config, "topP", "inferenceConfig.topP")
    stop = checks.text_list(config, "stopSequences", "inferenceConfig.stopSequences", 2500)
    return _chat_request("converse", system_text, roles, texts, max_tokens, stop)


# --- Responses -----------------------------------------------------------------------------

_ANTHROPIC_STOP = {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence"}
_LLAMA_STOP = {"end": "stop", "max_tokens": "length", "stop_sequence": "stop"}
_TITAN_STOP = {"end": "FINISH", "max_tokens": "LENGTH", "stop_sequence": "STOP_CRITERIA_MET"}


def answer_body(
    request: ModelRequest, out: Generation, model_id: str, latency_ms: int
) -> dict[str, Any]:
    if request.family == "anthropic":
        return {
            "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": out.text}],
            "stop_reason": _ANTHROPIC_STOP[out.finish],
            "stop_sequence": out.stop_sequence,
            "usage": {"input_tokens": out.input_tokens, "output_tokens": out.output_tokens},
        }
    if request.family == "llama3":
        return {
            "generation": out.text,
            "prompt_token_count": out.input_tokens,
            "generation_token_count": out.output_tokens,
            "stop_reason": _LLAMA_STOP[out.finish],
        }
    if request.family == "titan":
        return {
            "inputTextTokenCount": out.input_tokens,
            "results": [
                {
                    "tokenCount": out.output_tokens,
                    "outputText": out.text,
                    "completionReason": _TITAN_STOP[out.finish],
                }
            ],
        }
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": out.text}]}},
        "stopReason": _ANTHROPIC_STOP[out.finish],
        "usage": {
            "inputTokens": out.input_tokens,
            "outputTokens": out.output_tokens,
            "totalTokens": out.input_tokens + out.output_tokens,
        },
        "metrics": {"latencyMs": latency_ms},
    }


def answer(request: ModelRequest, out: Generation, model_id: str, latency_ms: int) -> Reply:
    reply = json_reply(200, answer_body(request, out, model_id, latency_ms))
    if request.family != "converse":
        reply.headers.update(
            {
                "X-Amzn-Bedrock-Input-Token-Count": str(out.input_tokens),
                "X-Amzn-Bedrock-Output-Token-Count": str(out.output_tokens),
                "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
            }
        )
    return reply


def malformed(request: ModelRequest, invalid_json: bool) -> Reply:
    """HTTP 200 with a body the caller cannot read: broken JSON, or JSON without the fields."""
    if invalid_json:
        return Reply(200, b'{"output": {"message": {"role": "assistant", "content": [{"te')
    wrong = {"converse": {"output": {}}, "anthropic": {"type": "message", "content": None}}
    return Reply(200, json.dumps(wrong.get(request.family, {"unexpected": True})).encode())


class _Wording(NamedTuple):
    """Each API's own error messages for the same conversation rules."""

    empty: str
    role: str  # formatted with the message index
    first: str
    alternate: str


_ANTHROPIC_WORDING = _Wording(
    "messages: at least one message is required",
    "messages.{}.role: must be 'user' or 'assistant'",
    'messages: first message must use the "user" role',
    'messages: roles must alternate between "user" and "assistant"',
)
_CONVERSE_WORDING = _Wording(
    "The value at messages must contain at least one message.",
    "The value at messages.{}.role must be 'user' or 'assistant'.",
    "A conversation must start with a user message. Try again with a conversation that "
    "starts with a user message.",
    "A conversation must alternate between user and assistant roles. Make sure the "
    "conversation alternates between user and assistant roles and try again.",
)


def _chat_request(
    family: str,
    system_text: str,
    roles: list[str],
    texts: list[str],
    max_tokens: int,
    stop: tuple[str, ...],
) -> ModelRequest:
    """A checked chat conversation as the model sees it: the last user turn is the input."""
    last_user = next(
        t for r, t in zip(reversed(roles), reversed(texts), strict=True) if r == "user"
    )
    return ModelRequest(
        family=family,
        echo_text=last_user,
        classify_text=last_user,
        input_tokens=count_words(system_text) + sum(map(count_words, texts)),
        max_tokens=max_tokens,
        stop=stop,
        completion_style=False,
    )


def _conversation(
    messages: Any, read_content: Callable[[Any, str], str], wording: _Wording
) -> tuple[list[str], list[str]]:
    """(roles, texts) of a chat body's messages, checked as Bedrock checks them."""
    if not isinstance(messages, list) or not messages:
        raise Invalid(wording.empty)
    roles, texts = [], []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise Invalid(wording.role.format(index))
        roles.append(message["role"])
        texts.append(read_content(message.get("content"), f"messages.{index}.content"))
    checks.alternating(roles, wording.first, wording.alternate)
    return roles, texts
