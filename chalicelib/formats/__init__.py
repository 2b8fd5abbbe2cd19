"""Prompt formats: one small module per model family, looked up by (provider, request_format).

Adding a family is one module with `build_request`/`read_response` and one entry below.
"""

from __future__ import annotations

from chalicelib.formats import anthropic, converse, llama3, openai_chat, openai_completions, titan
from chalicelib.formats.base import (
    Completion,
    InferenceParams,
    Message,
    Prompt,
    PromptFormat,
    truncate_at_stop,
)

FORMATS: dict[tuple[str, str], PromptFormat] = {
    ("bedrock", "converse"): converse,
    ("bedrock", "anthropic"): anthropic,
    ("bedrock", "llama3"): llama3,
    ("bedrock", "titan"): titan,
    ("openai", "completions"): openai_completions,
    ("openai", "chat"): openai_chat,
}


def get_format(provider: str, request_format: str) -> PromptFormat:
    return FORMATS[(provider, request_format)]


__all__ = [
    "FORMATS",
    "Completion",
    "InferenceParams",
    "Message",
    "Prompt",
    "PromptFormat",
    "get_format",
    "truncate_at_stop",
]
