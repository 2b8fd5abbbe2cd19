"""OpenAI-compatible legacy completions (`ft:`/`ada:ft-` models, vLLM, Ollama)."""

from __future__ import annotations

from typing import Any

from chalicelib.formats.base import (
    Api,
    Completion,
    InferenceParams,
    Prompt,
    native_stops,
    optional_int,
    optional_str,
    text_at,
    transcript,
)

name = "completions"
# OpenAI takes at most 4 (vLLM more; 4 is what every server accepts).
MAX_STOP_SEQUENCES = 4
api: Api = "openai_completions"


def build_request(prompt: Prompt, params: InferenceParams) -> dict[str, Any]:
    request: dict[str, Any] = {
        "prompt": transcript(prompt, "User", "Assistant"),
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if params.seed is not None:
        request["seed"] = params.seed
    if params.stop:
        request["stop"] = native_stops(params.stop, MAX_STOP_SEQUENCES)
    return request


def read_response(body: Any) -> Completion:
    return Completion(
        text=text_at(body, name, "choices", 0, "text"),
        input_tokens=optional_int(body, "usage", "prompt_tokens"),
        output_tokens=optional_int(body, "usage", "completion_tokens"),
        stop_reason=optional_str(body, "choices", 0, "finish_reason"),
        raw=body,
    )
