"""The prepare pipeline: read, clean, split by label, and write the three files plus a summary."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chalicelib.dataprep import rules
from chalicelib.dataprep.atomic import write_files
from chalicelib.dataprep.dedupe import Collected, RowFilter, collect
from chalicelib.dataprep.errors import DataError
from chalicelib.dataprep.formats import LineEncoder, Tally
from chalicelib.dataprep.readers import detect_kind, read_rows
from chalicelib.dataprep.split import SPLITS, allocate
from chalicelib.dataprep.tokens import METHOD, estimate_tokens
from chalicelib.progress import Progress

Format = Literal["openai", "bedrock"]
LabelKind = Literal["classification", "free_text"]
_CONFLICT_EXAMPLES = 20
_FREE_TEXT_LABEL_CHARS = 40  # average label length above which labels are answers, not classes


@dataclass(frozen=True)
class PrepareOptions:
    text_column: str
    label_column: str
    format: Format
    out_dir: Path
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 42
    separator: str = rules.DEFAULT_SEPARATOR
    stop_suffix: str = ""
    system: str | None = None
    max_tokens: int | None = None  # per record; None: the format's default (rules.py)
    force: bool = False  # replace outputs already in out_dir


OUTPUT_NAMES = (*(f"{name}.jsonl" for name in SPLITS), "summary.json")


def _row_filter(options: PrepareOptions) -> RowFilter:
    """Rows the fine-tuning service would reject or learn wrongly from, each with its reason.

    The token estimate is the one validate applies to the written record, so every row kept
    here passes validate's length rule and every row dropped would fail it.
    """
    limit = rules.max_record_tokens(options.format, options.max_tokens)
    if options.format == "bedrock":
        overhead = len(options.system or "")
        markers: tuple[str, ...] = rules.BEDROCK_RESERVED
    else:
        # prompt = text + separator; completion = " " + label + stop suffix
        overhead = len(options.separator) + 1 + len(options.stop_suffix)
        markers = ()
    separator = options.separator if options.format == "openai" else ""

    def reject(text: str, label: str) -> str | None:
        if any(marker in text or marker in label for marker in markers):
            return "reserved_marker"
        if separator and separator in text:
            return "contains_separator"  # the model could not tell where the prompt ends
        if estimate_tokens(overhead + len(text) + len(label)) > limit:
            return "too_long"
        return None

    return reject


def _check_options(options: PrepareOptions) -> None:
    system = options.system or ""
    if options.format == "bedrock" and any(m in system for m in rules.BEDROCK_RESERVED):
        raise DataError("--system must not contain '\\nHuman:' or '\\nAssistant:'")
    if options.format == "openai" and not options.separator:
        raise DataError("--separator must not be empty: it tells the model where the prompt ends")
    if not options.out_dir.exists():
        options.out_dir.mkdir(parents=True)
    if not options.out_dir.is_dir():
        raise DataError(f"{options.out_dir}: not a directory")
    existing = [name for name in OUTPUT_NAMES if (options.out_dir / name).exists()]
    if existing and not options.force:
        raise DataError(
            f"{options.out_dir} already holds {', '.join(existing)}; "
            "pass --force to replace them, or choose another --out"
        )


def split_rows(collected: Collected, ratios: Sequence[float], seed: int) -> list[list[int]]:
    """Text indices per split: stratified by label, then shuffled, all from one seeded generator."""
    by_label: list[list[int]] = [[] for _ in collected.label_names]
    for index in collected.kept():
        by_label[collected.labels[index]].append(index)
    sizes = allocate([len(rows) for rows in by_label], ratios)
    rng = random.Random(seed)
    splits: list[list[int]] = [[] for _ in SPLITS]
    for rows, counts in zip(by_label, sizes, strict=True):
        rng.shuffle(rows)
        start = 0
        for split, count in zip(splits, counts, strict=True):
            split.extend(rows[start : start + count])
            start += count
    for split in splits:
        rng.shuffle(split)
    return splits


def label_kind(counts: Sequence[int], names: Sequence[str]) -> LabelKind:
    """'classification' when labels repeat, 'free_text' when they read as answers.

    OpenAI's prepare_data rule: a task is classification when each label averages at least
    three examples. Labels longer than a short phrase are free text whatever their count.
    """
    used = [name for name, count in zip(names, counts, strict=True) if count]
    if not used or len(used) * 3 >= sum(counts):
        return "free_text"
    if sum(map(len, used)) / len(used) > _FREE_TEXT_LABEL_CHARS:
        return "free_text"
    return "classification"


def _summary(
    input_path: Path,
    options: PrepareOptions,
    collected: Collected,
    splits: list[list[int]],
    tallies: list[Tally],
) -> dict[str, Any]:
    texts, names = collected.texts, collected.label_names
    totals = [sum(column) for column in zip(*(tally.labels for tally in tallies), strict=True)]
    kind = label_kind(totals, names)
    order = sorted((i for i in range(len(names)) if totals[i]), key=names.__getitem__)
    per_split: dict[str, Any] = {}
    for name, rows, tally in zip(SPLITS, splits, tallies, strict=True):
        part: dict[str, Any] = {"records": len(rows)}
        if kind == "classification":  # free-text counts would repeat every answer
            part["labels"] = {names[i]: tally.labels[i] for i in order}
        part["distinct_labels"] = sum(1 for n in tally.labels if n)
        part["tokens_estimated"] = tally.tokens
        per_split[name] = part
    conflicts = sorted(collected.conflicts.items())
    return {
        "input": str(input_path),
        "input_format": detect_kind(input_path),
        "text_column": options.text_column,
        "label_column": options.label_column,
        "format": options.format,
        "separator": options.separator if options.format == "openai" else None,
        "stop_suffix": options.stop_suffix if options.format == "openai" else None,
        "system": options.system if options.format == "bedrock" else None,
        "max_record_tokens": rules.max_record_tokens(options.format, options.max_tokens),
        "seed": options.seed,
        "split_ratios": dict(zip(SPLITS, options.ratios, strict=True)),
        "rows_read": collected.rows_read,
        "rows_dropped": dict(sorted(collected.dropped.items())),
        "duplicates_removed": {
            "exact": collected.exact_duplicates,
            "normalised": collected.normalised_duplicates,
            "normalisation": "case-folded, whitespace runs collapsed, ends trimmed",
        },
        "conflicting_labels": {
            "texts": len(conflicts),
            "rows_removed": collected.conflict_rows,
            "examples": [
                {"text": texts[i][:200], "labels": sorted(seen)}
                for i, seen in conflicts[:_CONFLICT_EXAMPLES]
            ],
        },
        "rows_written": sum(len(rows) for rows in splits),
        "label_kind": kind,
        "distinct_labels": len(order),
        "splits": per_split,
        "token_estimate": {
            "method": METHOD,
            "total": sum(part["tokens_estimated"] for part in per_split.values()),
        },
        "warnings": _warnings(options, per_split),
    }


def _warnings(options: PrepareOptions, per_split: dict[str, Any]) -> list[str]:
    if options.format != "bedrock":
        return []
    found = []
    for split, role in (("train", "training"), ("validation", "validation")):
        low, high = rules.BEDROCK_RECORD_LIMITS[role]
        n = per_split[split]["records"]
        if n and not low <= n <= high:
            found.append(f"{split}: {n} records; Bedrock accepts {low}-{high} for {role} data")
    return found


def prepare(
    input_path: Path, options: PrepareOptions, *, progress: bool | None = None
) -> dict[str, Any]:
    """Run the whole pipeline; returns the summary that was written to summary.json."""
    _check_options(options)
    row_filter = _row_filter(options)
    size = input_path.stat().st_size if input_path.is_file() else None
    with Progress(size, "reading", unit="B", force=progress) as bar:
        rows = read_rows(input_path, options.text_column, options.label_column, bar)
        collected = collect(rows, row_filter, str(input_path))
        bar.advance((size or 0) - bar.done)
    if not collected.kept():
        raise DataError(f"{input_path}: no usable rows left (all empty, duplicate or conflicting)")
    splits = split_rows(collected, options.ratios, options.seed)
    encoder = LineEncoder(
        options.format,
        collected.label_names,
        separator=options.separator,
        stop_suffix=options.stop_suffix,
        system=options.system,
    )
    tallies = [Tally([0] * len(collected.label_names)) for _ in SPLITS]
    summary: dict[str, Any] = {}

    def summary_text() -> Iterator[str]:
        # Staged after the three split files, so their tallies are complete by now.
        summary.update(_summary(input_path, options, collected, splits, tallies))
        yield json.dumps(summary, indent=2, ensure_ascii=False) + "\n"

    out = options.out_dir
    write_files(
        [
            *(
                (
                    out / f"{name}.jsonl",
                    encoder.lines(collected.texts, collected.labels, rows, tally),
                )
                for name, rows, tally in zip(SPLITS, splits, tallies, strict=True)
            ),
            (out / "summary.json", summary_text()),
        ]
    )
    return summary
