"""OpenAI-compatible legacy completions (`ft:`/`ada:ft-` models, vLLM, Ollama)."""

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
    transcript,
)

name = "completions"
api: Api = "openai_completions"


def build_request(prompt: Prompt, params: InferenceParams) -> dict[str, Any]:
    request: dict[str, Any] = {
        "prompt": transcript(prompt, "User", "Assistant"),
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if params.stop:
        request["stop"] = list(params.stop)
    return request


def read_response(body: Any) -> Completion:
    return Completion(
        text=text_at(body, name, "choices", 0, "text"),
        input_tokens=optional_int(body, "usage", "prompt_tokens"),
        output_tokens=optional_int(body, "usage", "completion_tokens"),
        stop_reason=optional_str(body, "choices", 0, "finish_reason"),
        raw=body,
    )
