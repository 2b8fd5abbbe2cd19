"""Bedrock InvokeModel for Amazon Titan Text fine-tunes (prompt/completion training data)."""

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

name = "titan"
# textGenerationConfig.stopSequences takes at most 4.
MAX_STOP_SEQUENCES = 4
api: Api = "invoke"


def build_request(prompt: Prompt, params: InferenceParams) -> dict[str, Any]:
    config: dict[str, Any] = {
        "maxTokenCount": params.max_tokens,
        "temperature": params.temperature,
        "topP": params.top_p,
    }
    if params.stop:
        config["stopSequences"] = native_stops(params.stop, MAX_STOP_SEQUENCES)
    return {"inputText": transcript(prompt, "User", "Bot"), "textGenerationConfig": config}


def read_response(body: Any) -> Completion:
    return Completion(
        text=text_at(body, name, "results", 0, "outputText"),
        input_tokens=optional_int(body, "inputTextTokenCount"),
        output_tokens=optional_int(body, "results", 0, "tokenCount"),
        stop_reason=optional_str(body, "results", 0, "completionReason"),
        raw=body,
    )
