"""Read a model's raw text as the deployment's output type (CONTRACT section 5).

One parser for invoke and evaluation, so a served prediction and a scored one never differ.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from chalicelib.config.registry import OutputSpec

_EDGE = string.whitespace + string.punctuation
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class ParsedOutput:
    prediction: str | float | None
    valid: bool
    #: The number used for MAE: the parsed number, or the label's entry in `values`.
    value: float | None = None


def normalise_label(text: str) -> str:
    """Strip whitespace and surrounding punctuation, then case-fold."""
    return text.strip(_EDGE).casefold()


def parse_label(text: str, labels: list[str]) -> str | None:
    normalised = {normalise_label(label): label for label in labels}
    first_line = text.strip().split("\n", 1)[0]
    exact = normalised.get(normalise_label(first_line))
    if exact is not None:
        return exact
    whole = normalise_label(text)
    for norm in sorted(normalised, key=len, reverse=True):
        if norm and whole.startswith(norm):
            rest = whole[len(norm) : len(norm) + 1]
            if not rest or not rest.isalnum():
                return normalised[norm]
    return None


def parse_number(text: str, value_range: tuple[float, float] | None = None) -> float | None:
    match = _NUMBER.search(text)
    if match is None:
        return None
    number = float(match.group())
    if value_range is not None and not value_range[0] <= number <= value_range[1]:
        return None
    return number


def parse_output(spec: OutputSpec, text: str) -> ParsedOutput:
    if spec.type == "text":
        return ParsedOutput(prediction=None, valid=True)
    if spec.type == "number":
        number = parse_number(text, spec.range)
        return ParsedOutput(prediction=number, valid=number is not None, value=number)
    label = parse_label(text, spec.labels)
    if label is None:
        return ParsedOutput(prediction=None, valid=False)
    return ParsedOutput(prediction=label, valid=True, value=spec.values.get(label))
