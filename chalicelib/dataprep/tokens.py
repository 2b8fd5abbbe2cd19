"""A deliberately simple token estimate shared by prepare, validate and estimate-cost.

No tokenizer ships with the CLI, so every command uses the same rule and says so.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
METHOD = (
    "ceil(characters / 4) per record, characters counted over the prompt and completion "
    "(OpenAI) or the system prompt and every message content (Bedrock); a heuristic, "
    "not a tokenizer"
)


def estimate_tokens(characters: int) -> int:
    """ceil(characters / 4): roughly right for English text on GPT and Claude tokenizers."""
    return -(-characters // CHARS_PER_TOKEN)


def record_characters(record: Any) -> int:
    """Characters a fine-tuning record trains on, for either format; 0 for anything else."""
    if not isinstance(record, dict):
        return 0
    total = 0
    for key in ("prompt", "completion", "system"):
        value = record.get(key)
        if isinstance(value, str):
            total += len(value)
    messages = record.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                total += len(content)
    return total


def record_tokens(record: Any) -> int:
    return estimate_tokens(record_characters(record))
