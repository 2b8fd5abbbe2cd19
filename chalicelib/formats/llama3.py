"""Bedrock InvokeModel for Meta Llama 3 fine-tunes: the prompt in Llama 3's chat template."""

from __future__ import annotations

from typing import Any

from chalicelib.formats.base import (
    Api,
    Completion,
    InferenceParams,
    Prompt,
    optional_int,
    optional_str,
    text_at,
)

name = "llama3"
api: Api = "invoke"

BEGIN = "<|begin_of_text|>"
END_OF_TURN = "<|eot_id|>"


def _header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def render(prompt: Prompt) -> str:
    parts = [BEGIN]
    if prompt.system:
        parts.append(_header("system") + prompt.system + END_OF_TURN)
    for message in prompt.messages:
        parts.append(_header(message.role) + message.content + END_OF_TURN)
    parts.append(_header("assistant"))
    return "".join(parts)


def build_request(prompt: Prompt, params: InferenceParams) -> dict[str, Any]:
    return {
        "prompt": render(prompt),
        "max_gen_len": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }


def read_response(body: Any) -> Completion:
    return Completion(
        text=text_at(body, name, "generation"),
        input_tokens=optional_int(body, "prompt_token_count"),
        output_tokens=optional_int(body, "generation_token_count"),
        stop_reason=optional_str(body, "stop_reason"),
        raw=body,
    )
