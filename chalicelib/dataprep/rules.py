"""Fine-tuning service limits that both prepare and validate enforce, in one place.

Bedrock: Claude 3 Haiku fine-tuning data rules (AWS Bedrock user guide, "Prepare the datasets").
OpenAI: the legacy prompt/completion format, whose base models (ada ... davinci) had a context of
2,048 tokens; newer completion models accept more, hence `--max-tokens`.
"""

from __future__ import annotations

DEFAULT_SEPARATOR = "\n\n###\n\n"
BEDROCK_MAX_RECORD_TOKENS = 32_000
OPENAI_MAX_RECORD_TOKENS = 2_048
BEDROCK_RECORD_LIMITS = {"training": (32, 10_000), "validation": (32, 1_000)}
BEDROCK_RESERVED = ("\nHuman:", "\nAssistant:")
BEDROCK_KEYS = frozenset({"system", "messages"})
OPENAI_KEYS = frozenset({"prompt", "completion"})


def max_record_tokens(fmt: str, override: int | None = None) -> int:
    """The per-record token limit: the one asked for, else the format's default."""
    if override is not None:
        return override
    return BEDROCK_MAX_RECORD_TOKENS if fmt == "bedrock" else OPENAI_MAX_RECORD_TOKENS
