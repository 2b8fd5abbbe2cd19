"""Output parsing exactly as CONTRACT section 5."""

from __future__ import annotations

import pytest

from chalicelib.config.registry import OutputSpec
from chalicelib.serving.parsing import normalise_label, parse_label, parse_number, parse_output

LABELS = ["negative", "neutral", "positive"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" positive", "positive"),
        ("Positive.", "positive"),
        ("  NEUTRAL!\n", "neutral"),
        ('"negative"', "negative"),
        ("positive\nbecause the review praises it", "positive"),
        ("positive, clearly", "positive"),
        ("positive-ish", "positive"),
        ("positively", None),
        ("very positive", None),
        ("", None),
        ("\n\npositive", "positive"),
        ("pos", None),
    ],
)
def test_label_rules(text: str, expected: str | None) -> None:
    assert parse_label(text, LABELS) == expected


def test_longest_label_wins_on_prefix() -> None:
    labels = ["not", "not sure"]
    assert parse_label("not sure, maybe", labels) == "not sure"
    assert parse_label("not at all", labels) == "not"


def test_labels_keep_registry_spelling() -> None:
    assert parse_label("yes", ["Yes", "No"]) == "Yes"


def test_normalise() -> None:
    assert normalise_label("  ¡Hello, World!  ") == "¡hello, world"
    assert normalise_label("...Straße...") == "strasse"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7.0),
        ("score: 3.5/10", 3.5),
        ("-2 then 5", -2.0),
        (".5", 0.5),
        ("none", None),
        ("1e2", 100.0),
    ],
)
def test_first_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


def test_number_range() -> None:
    assert parse_number("11", (0, 10)) is None
    assert parse_number("10", (0, 10)) == 10.0


def test_parse_output_by_type() -> None:
    label = OutputSpec(type="label", labels=LABELS, values={"negative": 0, "positive": 2})
    assert parse_output(label, " positive").prediction == "positive"
    assert parse_output(label, " positive").value == 2
    assert parse_output(label, " neutral").value is None
    assert parse_output(label, "dunno").valid is False
    number = OutputSpec(type="number", range=(1, 5))
    assert parse_output(number, "4 stars").value == 4.0
    assert parse_output(number, "9 stars").valid is False
    text = parse_output(OutputSpec(), "anything")
    assert text.valid and text.prediction is None
