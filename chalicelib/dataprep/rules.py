"""Fine-tuning service limits that both prepare and validate enforce, in one place.

Bedrock: Claude 3 Haiku fine-tuning data rules (AWS Bedrock user guide, "Prepare the datasets").
"""

from __future__ import annotations

DEFAULT_SEPARATOR = "\n\n###\n\n"
BEDROCK_MAX_RECORD_TOKENS = 32_000
BEDROCK_RECORD_LIMITS = {"training": (32, 10_000), "validation": (32, 1_000)}
BEDROCK_RESERVED = ("\nHuman:", "\nAssistant:")
BEDROCK_KEYS = frozenset({"system", "messages"})
OPENAI_KEYS = frozenset({"prompt", "completion"})
