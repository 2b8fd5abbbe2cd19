"""The local stand-in for an untuned base model: a small sentiment lexicon answering in a chatty,
not-quite-trained way, so the local stack can show what fine-tuning buys (format and accuracy).
The word lists were written by hand and checked on the training split only."""

from __future__ import annotations

import re

BASE_MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"

_POSITIVE = frozenset(
    [
        "good", "great", "excellent", "amazing", "best", "better", "love", "loved",
        "wonderful", "works", "worked", "helped", "helps", "effective", "relief", "happy",
        "recommend", "fantastic", "perfect", "miracle", "easy", "improved", "glad", "thankful",
        "highly", "finally", "free", "saved",
    ]
)  # fmt: skip
_NEGATIVE = frozenset(
    [
        "bad", "worse", "worst", "terrible", "horrible", "awful", "sick", "hate", "hated",
        "stopped", "useless", "nightmare", "rash", "vomiting", "disappointed", "didn't",
        "not", "quit", "unbearable", "severe", "miserable", "waste",
    ]
)  # fmt: skip
_WORD = re.compile(r"[a-z][a-z'-]*")


def base_answer(text: str) -> str:
    """A label when the lexicon leans one way, a hedge (which a label parser rejects) when tied."""
    words = _WORD.findall(text.lower())
    score = sum(w in _POSITIVE for w in words) - sum(w in _NEGATIVE for w in words)
    if score >= 2:
        return "Positive."
    if score == 1:
        return "Positive, mostly."
    if score <= -1:
        return "Negative"
    return "The review seems mixed, so I cannot say for sure."
