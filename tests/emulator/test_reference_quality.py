"""The local reference classifier is a fair stand-in for a tuned model: it beats answering the
majority class on reviews it never saw (exact binomial test, checked against scipy), and it
never trains on the split the README evaluates."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binomtest

import devstack
from chalicelib.evaluation.metrics import ModelMetrics
from chalicelib.serving.parsing import normalise_label
from emulator.__main__ import DEFAULT_TRAIN_FILE
from emulator.reference_model import Example, ReferenceClassifier, load_examples, strip_separator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "drugreview"
SOURCE_TRAIN_ROWS = 600  # drugreview.jsonl holds the source's 600 train rows, then its 379 test


def scored(classifier: ReferenceClassifier, examples: list[Example]) -> dict[str, Any]:
    """The engine's metrics of the classifier's answers, cross-checked against scipy."""
    references = [example.label for example in examples]
    predictions = [classifier.predict(example.text) for example in examples]
    metrics = ModelMetrics()
    metrics.add_many(references, predictions, ["ok"] * len(examples))
    result = metrics.result()
    correct = sum(r == p for r, p in zip(references, predictions, strict=True))
    majority = max(map(references.count, references)) / len(references)
    expected = binomtest(correct, len(references), majority, alternative="greater").pvalue
    assert result["baselines"]["beats_majority"]["p_value"] == pytest.approx(expected, rel=1e-9)
    return result


def assert_beats_the_baselines(result: dict[str, Any], alpha: float) -> None:
    baselines = result["baselines"]
    assert baselines["beats_majority"]["p_value"] < alpha, baselines
    assert result["f1_macro"] > baselines["majority"]["f1_macro"]
    assert result["f1_macro"] > baselines["stratified"]["f1_macro"]


def test_the_recipe_beats_the_majority_on_the_sources_own_held_out_split() -> None:
    """Trained as the emulator trains it, on the source's 600 training reviews; scored on its
    379 test reviews (a split large enough to tell a real gain from chance)."""
    rows = [json.loads(line) for line in (DATA / "drugreview.jsonl").read_text().splitlines()]
    examples = [Example(row["review"], row["label"]) for row in rows]
    classifier = ReferenceClassifier.train(examples[:SOURCE_TRAIN_ROWS])
    result = scored(classifier, examples[SOURCE_TRAIN_ROWS:])
    assert result["n"] == len(rows) - SOURCE_TRAIN_ROWS
    assert_beats_the_baselines(result, alpha=0.001)


def test_the_served_model_beats_the_majority_on_the_unseen_validation_split() -> None:
    """The model the local stack serves (trained on train.jsonl, its settings chosen by
    cross-validation inside that file) on the 98 validation reviews it never saw."""
    classifier = ReferenceClassifier.from_file(DATA / "openai" / "train.jsonl")
    assert set(classifier.labels) == {"negative", "neutral", "positive"}
    validation = load_examples(DATA / "openai" / "validation.jsonl")
    assert_beats_the_baselines(scored(classifier, validation), alpha=0.01)


def texts(path: Path) -> set[str]:
    return {normalise_label(strip_separator(example.text)) for example in load_examples(path)}


def test_the_reference_model_never_trains_on_the_evaluated_split() -> None:
    """Every way the local stack starts trains on train.jsonl, which shares no review with
    the test splits the README and the tests evaluate."""
    train = DATA / "openai" / "train.jsonl"
    assert DEFAULT_TRAIN_FILE.resolve() == train.resolve()
    if "TUNEGATE_TRAIN_FILE" not in os.environ:
        assert devstack.TRAIN_FILE.resolve() == train.resolve()
    seen = texts(train)
    assert len(seen) == 782
    for split in (DATA / "openai" / "test.jsonl", DATA / "bedrock" / "test.jsonl"):
        held_out = [json.loads(line) for line in split.read_text().splitlines()]
        assert len(held_out) == 98
        assert not seen & texts(split), split
