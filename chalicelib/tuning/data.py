"""Tuning data checked in full before any provider call: dataprep's `validate` rules (the one
copy of them) plus the family's record-count and length limits, every finding with its line.

Files only: inline records are written to a temporary JSON Lines file first (`check_records`)
so both go through the same line-numbered reader.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chalicelib.dataprep import jsonl
from chalicelib.dataprep.tokens import METHOD, record_tokens
from chalicelib.dataprep.validate import validate_file
from chalicelib.errors import InvalidRequest
from chalicelib.tuning.families import Family

Role = Literal["training", "validation"]
MAX_LABELS = 50  # more distinct completions than this is free text, not a label set
DETAILS_SHOWN = 20
# dataprep's OpenAI-only rules, which Bedrock's non-conversational prompt/completion lacks
_OPENAI_ONLY = ("must start with whitespace", "separator", "stop suffix")


@dataclass(frozen=True)
class DataViolation:
    role: Role
    line: int | None  # None: about the whole file (record counts)
    reason: str
    warning: bool = False

    def detail(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.role, "reason": self.reason}


@dataclass
class DataSummary:
    role: Role
    format: str
    records: int = 0
    estimated_tokens: int = 0
    completions: dict[str, int] | None = field(default_factory=dict)  # None: free text

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "format": self.format,
            "records": self.records,
            "estimated_tokens": self.estimated_tokens,
            "token_estimate_method": METHOD,
            "completions": self.completions,
        }


@dataclass(frozen=True)
class DataCheck:
    summary: DataSummary
    violations: list[DataViolation]

    @property
    def errors(self) -> list[DataViolation]:
        return [v for v in self.violations if not v.warning]


def completion_of(record: Any) -> str | None:
    """The text a record teaches the model to answer: `completion`, or the last message."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("completion"), str):
        return str(record["completion"])
    messages = record.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):  # Nova: [{"text": ...}]
            texts = [part.get("text") for part in content if isinstance(part, dict)]
            return "".join(t for t in texts if isinstance(t, str)) or None
    return None


def _summarise(path: Path, role: Role, fmt: str) -> DataSummary:
    summary = DataSummary(role, fmt)
    counts: Counter[str] = Counter()
    for _, value, problem in jsonl.scan(path):
        if problem:
            continue
        summary.records += 1
        summary.estimated_tokens += record_tokens(value)
        completion = completion_of(value)
        if completion is not None and len(counts) <= MAX_LABELS:
            counts[completion.strip()] += 1
    summary.completions = dict(counts.most_common()) if len(counts) <= MAX_LABELS else None
    return summary


def _messages_only(path: Path, role: Role) -> list[DataViolation]:
    """Formats dataprep does not check record by record: parse and shape only."""
    found = []
    for line, value, problem in jsonl.scan(path):
        if problem:
            found.append(DataViolation(role, line, problem))
        elif not isinstance(value, dict) or not isinstance(value.get("messages"), list):
            found.append(DataViolation(role, line, "expected an object with a 'messages' list"))
    return found


def _dataprep(path: Path, role: Role, family: Family) -> list[DataViolation]:
    fmt = family.limits.format
    checked_as = "bedrock" if fmt == "bedrock" else "openai"
    _, found = validate_file(path, checked_as, role, family.limits.max_record_tokens)
    out = []
    for v in found:
        if fmt == "prompt_completion" and any(rule in v.message for rule in _OPENAI_ONLY):
            continue
        out.append(DataViolation(role, v.line, v.message, v.warning))
    return out


def _counts(summary: DataSummary, family: Family) -> list[DataViolation]:
    """The family's record-count limits; dataprep already applies Bedrock's for its format."""
    limits, role = family.limits, summary.role
    if limits.format == "bedrock":
        return []
    low = limits.min_records if role == "training" else None
    high = limits.max_records if role == "training" else limits.max_validation_records
    n = summary.records
    if (low is not None and n < low) or (high is not None and n > high):
        span = f"{low or 1:,}-{high:,}" if high is not None else f"at least {low:,}"
        return [
            DataViolation(
                role, None, f"{n:,} records; {family.name} accepts {span} for {role} data"
            )
        ]
    return []


def check_file(path: Path, family: Family, role: Role = "training") -> DataCheck:
    """Summary and findings (line order, file-level last) of one tuning data file."""
    if family.limits.format in ("openai_chat", "nova"):
        violations = _messages_only(path, role)
    else:
        violations = _dataprep(path, role, family)
    summary = _summarise(path, role, family.limits.format)
    violations = violations + _counts(summary, family)
    return DataCheck(summary, violations)


def write_records(records: Iterable[Mapping[str, Any]], directory: Path | None = None) -> Path:
    """Inline records as a JSON Lines file (line n = record n), for the line-numbered checks."""
    with tempfile.NamedTemporaryFile(
        "w", suffix=".jsonl", delete=False, encoding="utf-8", dir=directory
    ) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return Path(handle.name)


def check_records(
    records: Iterable[Mapping[str, Any]], family: Family, role: Role = "training"
) -> DataCheck:
    path = write_records(records)
    try:
        return check_file(path, family, role)
    finally:
        path.unlink(missing_ok=True)


def raise_for_violations(checks: Iterable[DataCheck], shown: int = DETAILS_SHOWN) -> None:
    """400 `invalid_request` naming the first `shown` errors (line, field, reason), if any."""
    errors = [v for check in checks for v in check.errors]
    if not errors:
        return
    first = errors[0]
    where = f" (line {first.line})" if first.line else ""
    more = f"; {len(errors) - shown} more not shown" if len(errors) > shown else ""
    raise InvalidRequest(
        f"The {first.role} data has {len(errors)} problem(s){more}; first{where}: {first.reason}",
        details=[v.detail() for v in errors[:shown]],
    )
