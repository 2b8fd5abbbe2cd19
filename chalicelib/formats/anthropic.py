"""Bedrock InvokeModel with Anthropic's Messages body (Claude 3 Haiku fine-tunes)."""

from __future__ import annotations

from typing import Any

from chalicelib.formats.base import (
    Api,
    Completion,
    InferenceParams,
    Prompt,
    dig,
    optional_int,
    optional_str,
    text_at,
    unreadable,
)

name = "anthropic"
api: Api = "invoke"
ANTHROPIC_VERSION = "bedrock-2023-05-31"


def build_request(prompt: Prompt, params: InferenceParams) -> dict[str, Any]:
    request: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
    }
    if prompt.system:
        request["system"] = prompt.system
    # Anthropic rejects whitespace-only stop sequences; those are applied to the text instead.
    native = [stop for stop in params.stop if stop.strip()]
    if native:
        request["stop_sequences"] = native
    return request


def read_response(body: Any) -> Completion:
    blocks = dig(body, name, "content")
    if not isinstance(blocks, list):
        raise unreadable(name, "content is not a list")
    texts = [
        text_at(block, name, "text")
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "text"
    ]
    return Completion(
        text="".join(texts),
        input_tokens=optional_int(body, "usage", "input_tokens"),
        output_tokens=optional_int(body, "usage", "output_tokens"),
        stop_reason=optional_str(body, "stop_reason"),
        raw=body,
    )
