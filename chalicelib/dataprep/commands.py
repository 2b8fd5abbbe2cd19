"""The `prepare`, `validate` and `estimate-cost` subcommands: argument parsing and printing only.

Exit status: 0 success, 1 validation found violations, 2 unusable input or arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from chalicelib.cli_output import aligned_table, fail, quiet_on_broken_pipe
from chalicelib.dataprep import rules
from chalicelib.dataprep.cost import CostEstimate, ProvisionedThroughput, count_training_tokens
from chalicelib.dataprep.errors import DataError
from chalicelib.dataprep.prepare import PrepareOptions, prepare
from chalicelib.dataprep.rules import DEFAULT_SEPARATOR
from chalicelib.dataprep.split import SPLITS, parse_ratios
from chalicelib.dataprep.validate import validate_file

_ESCAPES = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[ntr0\\])")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\"}
ESCAPE_HELP = (
    r"backslash escapes \n \t \r \\ \xHH \uHHHH are decoded, so quote the value in the shell, "
    r"e.g. --separator '\n\n###\n\n'"
)


def unescape(value: str) -> str:
    r"""Decode \n, \t, \r, \0, \\, \xHH and \uHHHH; any other backslash is kept as typed."""

    def decode(match: re.Match[str]) -> str:
        code = match.group(1)
        return _SIMPLE[code] if code in _SIMPLE else chr(int(code[1:], 16))

    return _ESCAPES.sub(decode, value)


_TABLE_LABELS = 12  # more label columns than this do not fit a terminal


def _label_table(summary: dict[str, Any]) -> str:
    """Records and tokens per split, with a column per label when the labels are a few classes.

    Free-text labels (or many classes) get one count of distinct labels instead: a column per
    label would print every answer as a header.
    """
    splits = summary["splits"]
    labels = sorted({label for part in splits.values() for label in part.get("labels", {})})
    per_label = summary["label_kind"] == "classification" and len(labels) <= _TABLE_LABELS
    columns = ["split", "records", "tokens~", *(labels if per_label else ["labels"])]
    rows = [
        [name, str(part["records"]), str(part["tokens_estimated"])]
        + (
            [str(part["labels"].get(label, 0)) for label in labels]
            if per_label
            else [str(part["distinct_labels"])]
        )
        for name, part in splits.items()
    ]
    table = aligned_table(columns, rows)
    if per_label:
        return table
    distinct = summary["distinct_labels"]
    if summary["label_kind"] == "free_text":
        note = f"labels: free text ({distinct:,} distinct), so no count per label"
    else:
        note = f"labels: {distinct:,} classes; counts per label in summary.json"
    return f"{table}\n{note}"


def _next_commands(options: PrepareOptions, max_tokens: int | None) -> list[str]:
    """The commands a user runs next on what prepare wrote, with its paths filled in."""
    cli = "python -m chalicelib.cli"
    limit = f" --max-tokens {max_tokens}" if max_tokens is not None else ""
    train = shlex.quote(str(options.out_dir / "train.jsonl"))
    validation = shlex.quote(str(options.out_dir / "validation.jsonl"))
    fmt = f"--format {options.format}"
    return [
        f"{cli} validate {train} {fmt}{limit}",
        f"{cli} validate {validation} {fmt} --role validation{limit}",
        f"{cli} estimate-cost {train} --epochs 2 --price-per-1k-tokens USD",
    ]


def run_prepare(args: argparse.Namespace) -> int:
    try:
        options = PrepareOptions(
            text_column=args.text_column,
            label_column=args.label_column,
            format=args.format,
            out_dir=Path(args.out),
            ratios=parse_ratios(args.split),
            seed=args.seed,
            separator=unescape(args.separator),
            stop_suffix=unescape(args.stop_suffix),
            system=unescape(args.system) if args.system else None,
            max_tokens=args.max_tokens,
            force=args.force,
        )
        summary = prepare(Path(args.input), options)
    except DataError as exc:
        return fail("prepare", exc)
    except OSError as exc:
        return fail("prepare", f"{exc.filename or args.input}: {exc.strerror or exc}")
    dropped = ", ".join(f"{k} {v}" for k, v in summary["rows_dropped"].items()) or "none"
    dupes, conflicts = summary["duplicates_removed"], summary["conflicting_labels"]
    print(f"read {summary['rows_read']} rows from {summary['input']} ({summary['input_format']})")
    print(f"dropped: {dropped}")
    print(f"duplicates removed: exact {dupes['exact']}, normalised {dupes['normalised']}")
    print(
        f"conflicting labels: {conflicts['texts']} texts removed "
        f"({conflicts['rows_removed']} rows; see summary.json)"
    )
    print(_label_table(summary))
    print(f"tokens~ = {summary['token_estimate']['method']}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    names = ", ".join(f"{name}.jsonl" for name in SPLITS)
    print(f"wrote {names} and summary.json to {options.out_dir}")
    print("next:")
    for command in _next_commands(options, args.max_tokens):
        print(f"  {command}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        return fail("validate", f"{path}: no such file")
    try:
        records, findings = validate_file(path, args.format, args.role, args.max_tokens)
    except OSError as exc:
        return fail("validate", f"{path}: {exc.strerror or exc}")
    violations = [f for f in findings if not f.warning]
    for finding in findings:
        print(finding.render(path), file=sys.stderr if finding.warning else sys.stdout)
    verdict = f"{len(violations)} violations" if violations else "OK"
    if warned := len(findings) - len(violations):
        verdict += f" ({warned} warning{'s' if warned != 1 else ''})"
    print(
        f"{path}: {records} records, {args.format} format, {args.role}: {verdict}", file=sys.stderr
    )
    return 1 if violations else 0


def run_estimate_cost(args: argparse.Namespace) -> int:
    hosting = [args.model_unit_hour_usd, args.model_units, args.hours]
    if any(v is not None for v in hosting) and not all(v is not None for v in hosting):
        return fail(
            "estimate-cost",
            "--model-unit-hour-usd, --model-units and --hours go together (Provisioned Throughput)",
        )
    try:
        records, tokens = count_training_tokens(Path(args.file))
    except DataError as exc:
        return fail("estimate-cost", exc)
    except OSError as exc:
        return fail("estimate-cost", f"{args.file}: {exc.strerror or exc}")
    estimate = CostEstimate(
        records=records,
        training_tokens=tokens,
        epochs=args.epochs,
        price_per_1k_tokens=args.price_per_1k_tokens,
        storage_month_usd=args.storage_month_usd,
        provisioned=(
            ProvisionedThroughput(args.model_unit_hour_usd, args.model_units, args.hours)
            if args.hours is not None
            else None
        ),
    )
    print(json.dumps(estimate.as_json(), indent=2) if args.json else estimate.table())
    return 0


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _max_tokens_option(parser: argparse.ArgumentParser, effect: str) -> None:
    parser.add_argument(
        "--max-tokens",
        type=_positive_int,
        metavar="N",
        help=f"the target model's limit per record, in estimated tokens; {effect} (default: "
        f"{rules.OPENAI_MAX_RECORD_TOKENS:,} for openai, as the legacy completion models; "
        f"{rules.BEDROCK_MAX_RECORD_TOKENS:,} for bedrock, Claude 3 Haiku's limit)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add prepare, validate and estimate-cost to the CLI."""
    p = subparsers.add_parser(
        "prepare",
        help="clean, deduplicate and split a labelled table into fine-tuning files",
        description="Write OUT/train.jsonl, validation.jsonl, test.jsonl and summary.json. "
        "Exact and normalised (case, whitespace) duplicates are removed, texts seen with "
        "conflicting labels are dropped, and the split is stratified by label. Rows the service "
        "would reject are dropped and counted: over --max-tokens, containing the OpenAI "
        "separator (the model could not tell where the prompt ends), or a Bedrock turn marker.",
    )
    p.add_argument("input", help="CSV, TSV or JSON Lines file (UTF-8)")
    p.add_argument("--text-column", required=True)
    p.add_argument("--label-column", required=True)
    p.add_argument("--format", required=True, choices=["openai", "bedrock"])
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument(
        "--force", action="store_true", help="replace outputs already in --out (refused otherwise)"
    )
    p.add_argument(
        "--split", default="0.8,0.1,0.1", help="train,validation,test ratios (default: %(default)s)"
    )
    p.add_argument(
        "--seed", type=int, default=42, help="seed of the split and shuffle (default: %(default)s)"
    )
    p.add_argument(
        "--separator",
        default=DEFAULT_SEPARATOR.encode("unicode_escape").decode(),
        help=f"OpenAI: appended to every prompt (default: %(default)s); {ESCAPE_HELP}",
    )
    p.add_argument(
        "--stop-suffix", default="", help="OpenAI: appended to every completion (escapes decoded)"
    )
    p.add_argument("--system", help="Bedrock: the system prompt of every record (escapes decoded)")
    _max_tokens_option(p, "rows over it are dropped")
    p.set_defaults(handler=run_prepare)

    v = subparsers.add_parser(
        "validate",
        help="check a fine-tuning file against the service's rules",
        description="Print every violation as FILE:LINE: message on stdout; exit 0 when clean, "
        "1 otherwise. Violations are what the service rejects or cannot learn from (bad JSON or "
        "keys, a missing or repeated separator, a record over --max-tokens, Bedrock's limits). "
        "Warnings go to stderr as FILE:LINE: warning: message and leave the exit status alone: "
        "duplicate records, one prompt with two completions, fewer than 100 training records, "
        "mostly uppercase text, and a prefix or suffix shared by every prompt or completion.",
    )
    v.add_argument("file")
    v.add_argument("--format", required=True, choices=["openai", "bedrock"])
    v.add_argument(
        "--role",
        default="training",
        choices=["training", "validation"],
        help="Bedrock record-count limits to apply, and the 100-record advice to training data "
        "only (default: %(default)s)",
    )
    _max_tokens_option(v, "longer records are violations")
    v.set_defaults(handler=run_validate)

    c = subparsers.add_parser(
        "estimate-cost",
        help="estimate fine-tuning and hosting cost from prices you pass in",
        description="Tokens are estimated as ceil(characters / 4) per record. No prices built in.",
    )
    c.add_argument("file", help="a train.jsonl in OpenAI or Bedrock format")
    c.add_argument("--epochs", type=_positive_int, required=True)
    c.add_argument("--price-per-1k-tokens", type=_non_negative, required=True, metavar="USD")
    c.add_argument("--storage-month-usd", type=_non_negative, default=0.0, metavar="USD")
    c.add_argument("--model-unit-hour-usd", type=_non_negative, metavar="USD")
    c.add_argument("--model-units", type=_positive_int, metavar="N")
    c.add_argument("--hours", type=_non_negative, metavar="N")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(handler=run_estimate_cost)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (the project CLI registers the same subcommands)."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.dataprep.commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return quiet_on_broken_pipe(lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
