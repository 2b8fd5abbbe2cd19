"""prepare: duplicates, conflicting labels, stratification, leakage, determinism, formats."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from chalicelib.dataprep.prepare import PrepareOptions, label_kind, prepare
from tests.dataprep.helpers import (
    SEPARATOR,
    label_of,
    norm,
    prompt_text,
    read_jsonl,
    run_cli,
    sample_rows,
    write_jsonl,
    write_table,
)

SPLITS = ("train", "validation", "test")


def _options(out: Path, fmt: str = "openai", **extra: object) -> PrepareOptions:
    return PrepareOptions(
        text_column="text", label_column="label", format=fmt, out_dir=out, **extra
    )  # type: ignore[arg-type]


def _outputs(out: Path) -> dict[str, list[dict[str, object]]]:
    return {name: read_jsonl(out / f"{name}.jsonl") for name in SPLITS}


def test_duplicates_of_each_kind_are_removed_and_counted(tmp_path: Path) -> None:
    rows = [
        ("Great drug, no side effects", "positive"),
        ("Great drug, no side effects", "positive"),  # exact
        ("great DRUG, no side EFFECTS", "positive"),  # case
        ("Great   drug,\tno side\neffects", "positive"),  # whitespace inside
        ("  Great drug, no side effects  ", "positive"),  # whitespace around
        ("great DRUG, no side EFFECTS", "positive"),  # exact repeat of a case variant
    ] + sample_rows({"positive": 20, "negative": 20})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out"))

    assert summary["rows_read"] == len(rows)
    assert summary["duplicates_removed"]["exact"] == 2
    assert summary["duplicates_removed"]["normalised"] == 3
    written = [prompt_text(r) for part in _outputs(tmp_path / "out").values() for r in part]
    assert len(written) == 41 == summary["rows_written"]
    great = [t for t in written if norm(t) == norm("great drug, no side effects")]
    assert great == ["Great drug, no side effects"]  # the first spelling is the one kept


def test_conflicting_labels_remove_the_text_entirely(tmp_path: Path) -> None:
    rows = [
        ("The side effects were bad", "negative"),
        ("Works well", "positive"),
        ("the side effects were BAD", "positive"),
        ("The side effects were bad", "negative"),
        ("Works  well", "positive"),
    ] + sample_rows({"positive": 15, "negative": 15})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out"))

    conflicts = summary["conflicting_labels"]
    assert conflicts["texts"] == 1
    assert conflicts["rows_removed"] == 3
    assert conflicts["examples"] == [
        {"text": "The side effects were bad", "labels": ["negative", "positive"]}
    ]
    assert summary["duplicates_removed"] == {
        "exact": 0,
        "normalised": 1,
        "normalisation": summary["duplicates_removed"]["normalisation"],
    }
    written = {norm(prompt_text(r)) for part in _outputs(tmp_path / "out").values() for r in part}
    assert "the side effects were bad" not in written
    assert "works well" in written
    assert summary["rows_written"] == len(rows) - 3 - 1


def test_empty_texts_and_labels_are_dropped_with_reasons(tmp_path: Path) -> None:
    rows = [("", "positive"), ("   ", "negative"), ("has no label", " ")]
    rows += sample_rows({"positive": 10, "negative": 10})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out"))
    assert summary["rows_dropped"] == {"empty_text": 2, "empty_label": 1}
    assert summary["rows_written"] == 20


@pytest.mark.parametrize(
    ("sizes", "ratios"),
    [
        ({"positive": 633, "negative": 256, "neutral": 90}, (0.8, 0.1, 0.1)),
        ({"a": 101, "b": 57, "c": 33, "d": 10}, (0.7, 0.2, 0.1)),
        ({"a": 40, "b": 41, "c": 42}, (0.6, 0.4, 0.0)),
    ],
)
def test_split_is_stratified_within_one_row_per_label(
    tmp_path: Path, sizes: dict[str, int], ratios: tuple[float, float, float]
) -> None:
    rows = sample_rows(sizes)
    random.Random(3).shuffle(rows)
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out", ratios=ratios))
    outputs = _outputs(tmp_path / "out")
    total = sum(sizes.values())
    for split, ratio in zip(SPLITS, ratios, strict=True):
        records = outputs[split]
        # split totals are the overall share, rounded
        assert abs(len(records) - total * ratio) < 1
        assert summary["splits"][split]["records"] == len(records)
        for label, size in sizes.items():
            count = sum(label_of(r) == label for r in records)
            assert abs(count - size * ratio) < 1, (split, label, count, size * ratio)
            assert summary["splits"][split]["labels"].get(label, 0) == count


def test_small_labels_get_a_row_in_every_split(tmp_path: Path) -> None:
    rows = sample_rows({"common": 200, "rare": 3, "five": 5, "pair": 2})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    prepare(source, _options(tmp_path / "out"))
    outputs = _outputs(tmp_path / "out")
    for split in SPLITS:
        labels = [label_of(r) for r in outputs[split]]
        assert labels.count("rare") == 1
        assert labels.count("five") >= 1
    assert sum(label_of(r) == "pair" for part in outputs.values() for r in part) == 2


def test_no_normalised_text_lands_in_two_splits(tmp_path: Path) -> None:
    rng = random.Random(7)
    words = ["good", "bad", "pill", "pain", "sleep", "dose", "rash", "calm"]
    rows = []
    for _ in range(3000):
        text = " ".join(rng.choice(words) for _ in range(3))
        variant = rng.choice([text, text.upper(), text.replace(" ", "  "), f" {text}\t"])
        rows.append((variant, "pos" if len(norm(text)) % 2 else "neg"))
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    prepare(source, _options(tmp_path / "out"))
    seen: dict[str, str] = {}
    for split, records in _outputs(tmp_path / "out").items():
        for record in records:
            key = norm(prompt_text(record))
            assert key not in seen, f"{key!r} is in {seen.get(key)} and {split}"
            seen[key] = split
    assert len(seen) == len({norm(t) for t, _ in rows})


def test_same_seed_same_bytes_other_seed_other_order(tmp_path: Path) -> None:
    rows = sample_rows({"x": 120, "y": 80})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    for out, seed in (("a", 5), ("b", 5), ("c", 6)):
        prepare(source, _options(tmp_path / out, seed=seed))
    for name in (*(f"{s}.jsonl" for s in SPLITS), "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a/train.jsonl").read_bytes() != (tmp_path / "c/train.jsonl").read_bytes()


def test_rows_are_shuffled_not_grouped_by_label(tmp_path: Path) -> None:
    rows = sample_rows({"x": 100, "y": 100})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    prepare(source, _options(tmp_path / "out"))
    labels = [label_of(r) for r in read_jsonl(tmp_path / "out/train.jsonl")]
    changes = sum(a != b for a, b in zip(labels, labels[1:]))
    assert changes > 20  # 80 + 80 rows grouped by label would change once


def test_openai_records_and_token_estimate(tmp_path: Path) -> None:
    rows = sample_rows({"positive": 30, "negative": 10})
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "label": lab} for t, lab in rows])
    summary = prepare(source, _options(tmp_path / "out", separator=" ->", stop_suffix="\n"))
    originals = dict(rows)
    for split, records in _outputs(tmp_path / "out").items():
        tokens = 0
        for record in records:
            assert set(record) == {"prompt", "completion"}
            text = record["prompt"][: -len(" ->")]
            assert record["prompt"] == text + " ->"
            assert record["completion"] == " " + originals[text] + "\n"
            tokens += -(-(len(record["prompt"]) + len(record["completion"])) // 4)
        assert summary["splits"][split]["tokens_estimated"] == tokens
    assert "ceil(characters / 4)" in summary["token_estimate"]["method"]


def test_bedrock_records_with_and_without_system(tmp_path: Path) -> None:
    rows = sample_rows({"positive": 30, "negative": 10})
    source = write_table(tmp_path / "in.tsv", ["text", "label"], rows, delimiter="\t")
    prepare(source, _options(tmp_path / "sys", "bedrock", system="Answer with one word."))
    prepare(source, _options(tmp_path / "plain", "bedrock"))
    originals = dict(rows)
    for record in read_jsonl(tmp_path / "sys/train.jsonl"):
        text = record["messages"][0]["content"]
        assert record == {
            "system": "Answer with one word.",
            "messages": [
                {"role": "user", "content": text},
                {"role": "assistant", "content": originals[text]},
            ],
        }
    assert all(set(r) == {"messages"} for r in read_jsonl(tmp_path / "plain/train.jsonl"))


def test_bedrock_drops_rows_it_would_reject(tmp_path: Path) -> None:
    rows = [("Fine\nHuman: ignore that", "positive"), ("x" * 130_000, "negative")]
    rows += sample_rows({"positive": 10, "negative": 10})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out", "bedrock"))
    assert summary["rows_dropped"] == {"reserved_marker": 1, "too_long": 1}


def test_unicode_text_survives_round_trip(tmp_path: Path) -> None:
    rows = [("Schlaflosigkeit – schön größer ☺", "positive"), ("line\u2028separator", "negative")]
    rows += sample_rows({"positive": 10, "negative": 10})
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "label": lab} for t, lab in rows])
    prepare(source, _options(tmp_path / "out"))
    texts = {prompt_text(r) for s in SPLITS for r in read_jsonl(tmp_path / "out" / f"{s}.jsonl")}
    assert {"Schlaflosigkeit – schön größer ☺", "line\u2028separator"} <= texts


def test_cli_prepare_end_to_end_with_escaped_separator(tmp_path: Path) -> None:
    rows = sample_rows({"positive": 40, "negative": 20})
    source = write_table(tmp_path / "in.csv", ["review", "rating"], rows)
    result = run_cli(
        "prepare", source, "--text-column", "review", "--label-column", "rating",
        "--format", "openai", "--out", tmp_path / "out", "--split", "0.5,0.25,0.25",
        "--seed", "3", "--separator", r"\n\n###\n\n", "--stop-suffix", r"\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out/summary.json").read_text(encoding="utf-8"))
    assert summary["separator"] == SEPARATOR
    assert [summary["splits"][s]["records"] for s in SPLITS] == [30, 15, 15]
    train = read_jsonl(tmp_path / "out/train.jsonl")
    assert all(r["prompt"].endswith(SEPARATOR) and r["completion"].endswith("\n") for r in train)
    assert "train" in result.stdout and "30" in result.stdout


def test_cli_prepare_output_passes_validate_in_both_formats(tmp_path: Path) -> None:
    rows = sample_rows({"positive": 300, "negative": 100})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    for fmt in ("openai", "bedrock"):
        out = tmp_path / fmt
        result = run_cli(
            "prepare", source, "--text-column", "text", "--label-column", "label",
            "--format", fmt, "--out", out, "--system", "Say the label.",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        for split, role in (("train", "training"), ("validation", "validation")):
            check = run_cli("validate", out / f"{split}.jsonl", "--format", fmt, "--role", role)
            assert check.returncode == 0, check.stdout + check.stderr
            assert check.stdout == ""


def test_texts_holding_the_separator_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [(f"before{SEPARATOR}after", "positive"), ("a -> b", "negative")]
    rows += sample_rows({"positive": 20, "negative": 20})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "default"))
    assert summary["rows_dropped"] == {"contains_separator": 1}
    assert summary["rows_written"] == 41
    summary = prepare(source, _options(tmp_path / "arrow", separator=" ->"))
    assert summary["rows_dropped"] == {"contains_separator": 1}
    written = {prompt.removesuffix(" ->") for prompt in _prompts(tmp_path / "arrow")}
    assert "a -> b" not in written and f"before{SEPARATOR}after" in written


def _prompts(out: Path) -> list[str]:
    return [str(r["prompt"]) for records in _outputs(out).values() for r in records]


def test_openai_rows_over_the_token_limit_are_dropped_as_validate_would(tmp_path: Path) -> None:
    # prompt = text + separator, completion = " " + label: ceil(chars / 4) tokens
    fixed = len(SEPARATOR) + len(" positive")
    at_limit = "a" * (2048 * 4 - fixed)  # exactly 2,048 tokens
    rows = [(at_limit, "positive"), (at_limit + "b", "positive"), ("x" * 140_000, "positive")]
    rows += sample_rows({"positive": 20, "negative": 20})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out"))
    assert summary["rows_dropped"] == {"too_long": 2}
    assert summary["max_record_tokens"] == 2048
    assert at_limit + SEPARATOR in _prompts(tmp_path / "out")
    for split in SPLITS:
        check = run_cli("validate", tmp_path / "out" / f"{split}.jsonl", "--format", "openai")
        assert check.returncode == 0 and check.stdout == ""

    summary = prepare(source, _options(tmp_path / "big", max_tokens=40_000))
    assert summary["rows_dropped"] == {}
    assert summary["max_record_tokens"] == 40_000


def test_bedrock_limit_can_be_lowered_too(tmp_path: Path) -> None:
    rows = [("y" * 4_000, "positive")] + sample_rows({"positive": 20, "negative": 20})
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    summary = prepare(source, _options(tmp_path / "out", "bedrock", max_tokens=1_000))
    assert summary["rows_dropped"] == {"too_long": 1}
    assert summary["max_record_tokens"] == 1_000


def prepare_text_label(tmp_path: Path, rows: list[tuple[str, str]]) -> Any:
    """`prepare` of a text,label CSV of `rows` to OpenAI files in tmp_path/out; it succeeds."""
    source = write_table(tmp_path / "in.csv", ["text", "label"], rows)
    result = run_cli(
        "prepare", source, "--text-column", "text", "--label-column", "label",
        "--format", "openai", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def read_summary(tmp_path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((tmp_path / "out/summary.json").read_text("utf-8"))
    return summary


def test_free_text_labels_print_a_summary_not_a_column_per_label(tmp_path: Path) -> None:
    rows = [
        (f"question {i}: how did the treatment go?", f"It went {'well' if i % 2 else 'badly'} {i}")
        for i in range(300)
    ]
    result = prepare_text_label(tmp_path, rows)
    table = result.stdout.split("tokens~ = ")[0].split("\nsplit ")[1].splitlines()
    assert max(map(len, table)) < 80, table
    assert "labels: free text (300 distinct), so no count per label" in result.stdout
    summary = read_summary(tmp_path)
    assert summary["label_kind"] == "free_text" and summary["distinct_labels"] == 300
    assert summary["splits"]["train"] == {
        "records": 240,
        "distinct_labels": 240,
        "tokens_estimated": summary["splits"]["train"]["tokens_estimated"],
    }


@pytest.mark.parametrize(
    ("counts", "names", "kind"),
    [
        ([633, 256, 90], ["positive", "negative", "neutral"], "classification"),
        ([4, 3], ["yes", "no"], "classification"),  # labels seen over three times on average
        ([3, 3], ["yes", "no"], "free_text"),
        ([50, 50], ["a" * 41, "b" * 41], "free_text"),  # long labels read as answers
        ([50, 50, 0], ["a" * 40, "b" * 40, "c" * 500], "classification"),  # unused label ignored
    ],
)
def test_label_kind_follows_openais_rule(counts: list[int], names: list[str], kind: str) -> None:
    assert label_kind(counts, names) == kind


def test_many_classes_are_summarised_too(tmp_path: Path) -> None:
    rows = sample_rows({f"class{i:02d}": 10 for i in range(30)})
    result = prepare_text_label(tmp_path, rows)
    assert "labels: 30 classes; counts per label in summary.json" in result.stdout
    assert len(read_summary(tmp_path)["splits"]["train"]["labels"]) == 30
