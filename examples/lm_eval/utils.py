"""Scoring for drug_review_sentiment.yaml: Tunegate's label rule (CONTRACT section 5), kept
free of Tunegate imports so the task runs wherever lm-eval is installed (a test checks it
against chalicelib.serving.parsing)."""

from __future__ import annotations

import string
from typing import Any

LABELS = ("negative", "neutral", "positive")
_EDGE = string.whitespace + string.punctuation


def normalise(text: str) -> str:
    return text.strip(_EDGE).casefold()


def parse_label(text: str, labels: tuple[str, ...] = LABELS) -> str | None:
    """The label equal to the first line, else the longest label the answer starts with
    (followed by a non-alphanumeric character or the end), else None (invalid: wrong)."""
    by_norm = {normalise(label): label for label in labels}
    exact = by_norm.get(normalise(text.strip().split("\n", 1)[0]))
    if exact is not None:
        return exact
    whole = normalise(text)
    for norm in sorted(by_norm, key=len, reverse=True):
        rest = whole[len(norm) : len(norm) + 1]
        if norm and whole.startswith(norm) and (not rest or not rest.isalnum()):
            return by_norm[norm]
    return None


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    prediction = parse_label(results[0])
    reference = parse_label(doc["completion"]) or normalise(doc["completion"])
    return {"acc": float(prediction is not None and prediction == reference)}
