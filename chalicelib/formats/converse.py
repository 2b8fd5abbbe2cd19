"""Bedrock Converse API (Nova, Claude, Llama): one request shape for every family."""

from __future__ import annotations

from typing import Any

from chalicelib.formats.base import (
    Api,
    Completion,
    InferenceParams,
    Prompt,
    dig,
    native_stops,
    optional_int,
    optional_str,
    text_at,
    unreadable,
)

name = "converse"
# Converse documents 2,500, but models behind it (Titan, Mistral) take 4.
MAX_STOP_SEQUENCES = 4
api: Api = "converse"


def build_request(prompt: Prompt, params: InferenceParams) -> dict[str, Any]:
    config: dict[str, Any] = {
        "maxTokens": params.max_tokens,
        "temperature": params.temperature,
        "topP": params.top_p,
    }
    if params.stop:
        config["stopSequences"] = native_stops(params.stop, MAX_STOP_SEQUENCES)
    request: dict[str, Any] = {
        "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in prompt.messages],
        "inferenceConfig": config,
    }
    if prompt.system:
        request["system"] = [{"text": prompt.system}]
    return request


def read_response(body: Any) -> Completion:
    blocks = dig(body, name, "output", "message", "content")
    if not isinstance(blocks, list):
        raise unreadable(name, "output.message.content is not a list")
    text = "".join(
        text_at(block, name, "text")
        for block in blocks
        if isinstance(block, dict) and "text" in block
    )
    return Completion(
        text=text,
        input_tokens=optional_int(body, "usage", "inputTokens"),
        output_tokens=optional_int(body, "usage", "outputTokens"),
        stop_reason=optional_str(body, "stopReason"),
        raw=body,
    )
