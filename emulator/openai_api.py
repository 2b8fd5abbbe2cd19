"""OpenAI-compatible completions and chat completions: validation and response shapes."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from emulator import checks
from emulator.checks import Invalid
from emulator.models import MAX_TOKENS_LIMIT, Generation, ModelRequest, count_words
from emulator.reference_model import strip_separator
from emulator.wire import ApiError, Reply, json_reply

COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # the legacy completions API's own default
_CHAT_ROLES = ("system", "developer", "user", "assistant")


def model_name(raw: bytes) -> str | None:
    """The `model` field if the body has one, for routing and stats before full validation."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else None


def parse(endpoint: str, raw: bytes) -> ModelRequest:
    try:
        body = checks.parse_object(raw)
        checks.text(body, "model", "model")
        checks.number(body, "temperature", "temperature", 0.0, 2.0)
        checks.number(body, "top_p", "top_p")
        stop = checks.text_list(body, "stop", "stop", 4)
        if endpoint == "completions":
            return _completions(body, stop)
        return _chat(body, stop)
    except Invalid as problem:
        raise ApiError("ValidationException", problem.detail, problem.param) from None


def _completions(body: dict[str, Any], stop: tuple[str, ...]) -> ModelRequest:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise Invalid(
            "prompt: expected a string (the emulator serves one prompt per request)", "prompt"
        )
    max_tokens = checks.integer(
        body, "max_tokens", "max_tokens", COMPLETIONS_DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT
    )
    return ModelRequest(
        family="openai_completions",
        echo_text=prompt,
        classify_text=strip_separator(prompt),
        input_tokens=count_words(prompt),
        max_tokens=max_tokens,
        stop=stop,
        completion_style=True,
    )


def _content(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if parts and all(isinstance(p, str) for p in parts):
            return "".join(str(p) for p in parts)
    raise Invalid(
        f"messages[{index}].content: expected a string or text parts", f"messages[{index}].content"
    )


def _chat(body: dict[str, Any], stop: tuple[str, ...]) -> ModelRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required", "messages")
    texts, last_user = [], None
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _CHAT_ROLES:
            raise Invalid(
                f"messages[{index}].role: must be one of {list(_CHAT_ROLES)}",
                f"messages[{index}].role",
            )
        texts.append(_content(message.get("content"), index))
        if message["role"] == "user":
            last_user = texts[-1]
    if last_user is None:
        raise Invalid("messages: at least one user message is required", "messages")
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = checks.integer(
        {"max_tokens": limit}, "max_tokens", "max_tokens", MAX_TOKENS_LIMIT, 1, MAX_TOKENS_LIMIT
    )
    return ModelRequest(
        family="openai_chat",
        echo_text=last_user,
        classify_text=last_user,
        input_tokens=sum(map(count_words, texts)),
        max_tokens=max_tokens,
        stop=stop,
        completion_style=False,
    )


def answer(request: ModelRequest, out: Generation, model: str) -> Reply:
    reason = "length" if out.finish == "max_tokens" else "stop"
    usage = {
        "prompt_tokens": out.input_tokens,
        "completion_tokens": out.output_tokens,
        "total_tokens": out.input_tokens + out.output_tokens,
    }
    if request.family == "openai_completions":
        choice: dict[str, Any] = {
            "index": 0,
            "text": out.text,
            "logprobs": None,
            "finish_reason": reason,
        }
        kind, prefix = "text_completion", "cmpl"
    else:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": out.text},
            "logprobs": None,
            "finish_reason": reason,
        }
        kind, prefix = "chat.completion", "chatcmpl"
    return json_reply(
        200,
        {
            "id": f"{prefix}-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
        },
    )


def malformed(request: ModelRequest, invalid_json: bool) -> Reply:
    if invalid_json:
        return Reply(200, b'{"id": "cmpl-x", "choices": [{"text": ')
    return Reply(200, json.dumps({"id": "cmpl-x", "object": "text_completion"}).encode())
