"""Recover the prompt format a model was tuned on from its tuning data, so `register` serves it
exactly as trained (system prompt, separator, completion's leading space, stop sequence, label
set) and nobody retypes it.

Mixed data is decided by majority: the format most records use wins and a warning names how
many differ; when no separator is shared by at least half the prompts it is an error (400),
since any choice would serve most requests in a format the model never saw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.config.registry import MAX_TOKENS_CEILING, InferenceSpec, OutputSpec, PromptSpec
from chalicelib.dataprep import jsonl
from chalicelib.dataprep.tokens import estimate_tokens
from chalicelib.dataprep.validate import detect_separator, stop_of
from chalicelib.errors import InvalidRequest

MAX_LABELS = 20  # more distinct completions than this: free text, not a closed label set
_TAIL = 64


@dataclass
class RecoveredFormat:
    prompt: PromptSpec
    inference: InferenceSpec
    output: OutputSpec
    leading_space: bool  # completions start with whitespace: answers arrive with it too
    records: int
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.model_dump(),
            "inference": self.inference.model_dump(),
            "output": self.output.model_dump(),
            "leading_space": self.leading_space,
            "records": self.records,
            "warnings": self.warnings,
        }


def _majority(values: list[str], what: str, warnings: list[str]) -> str:
    """The most common value; a warning when not every record agrees."""
    value, count = Counter(values).most_common(1)[0]
    if count < len(values):
        warnings.append(
            f"{len(values) - count} of {len(values)} records use a different {what} than "
            f"the {value!r} the rest use; {value!r} is served"
        )
    return value


def _pairs(records: Iterable[Any]) -> tuple[list[str | None], list[str], list[str], int]:
    """(system, prompt, completion) per well-formed record, and how many were conversations."""
    chats = 0
    systems: list[str | None] = []
    prompts: list[str] = []
    completions: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            continue
        messages = record.get("messages")
        if isinstance(messages, list) and len(messages) >= 2:
            texts = [m.get("content") if isinstance(m, dict) else None for m in messages]
            if not all(isinstance(t, str) for t in texts):
                continue
            system = record.get("system")
            systems.append(system if isinstance(system, str) else None)
            prompts.append(str(texts[-2]))
            completions.append(str(texts[-1]))
            chats += 1
        elif isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str):
            systems.append(None)
            prompts.append(record["prompt"])
            completions.append(record["completion"])
    return systems, prompts, completions, chats


def recover_format(records: Iterable[Any]) -> RecoveredFormat:
    """The format of Bedrock conversational or prompt/completion records; 400 if none."""
    systems, prompts, completions, chats = _pairs(records)
    if not prompts:
        raise InvalidRequest(
            "The tuning data holds no usable record to recover the prompt format from.",
            details=[{"field": "training", "reason": "no prompt/completion or messages record"}],
        )
    warnings: list[str] = []
    conversational = chats * 2 > len(prompts)
    system_values = [s or "" for s in systems]
    system = _majority(system_values, "system prompt", warnings) if any(system_values) else ""
    separator = "" if conversational else _separator(prompts, warnings)
    stop = _majority([stop_of(c[-_TAIL:]) for c in completions], "stop sequence", warnings)
    leading = sum(bool(c) and c[0].isspace() for c in completions) * 2 > len(completions)
    answers = [c[: len(c) - len(stop)] if stop and c.endswith(stop) else c for c in completions]
    labels = Counter(a.strip() for a in answers)
    longest = max(estimate_tokens(len(a) + len(stop)) for a in answers)
    closed = 0 < len(labels) <= MAX_LABELS and len(labels) * 2 <= len(answers) and "" not in labels
    output = (
        OutputSpec(type="label", labels=[label for label, _ in labels.most_common()])
        if closed
        else OutputSpec()
    )
    inference = InferenceSpec(
        max_tokens=min(MAX_TOKENS_CEILING, max(16, 2 * longest)),
        stop=[stop] if stop.strip() else [],  # a bare newline stop is kept in the data, not served
    )
    if stop and not stop.strip():
        warnings.append(f"completions end with {stop!r}; it is not served as a stop sequence")
    return RecoveredFormat(
        prompt=PromptSpec(system=system or None, template="{input}", separator=separator),
        inference=inference,
        output=output,
        leading_space=leading,
        records=len(prompts),
        warnings=warnings,
    )


def _separator(prompts: list[str], warnings: list[str]) -> str:
    tails = [p[-_TAIL:] for p in prompts]
    separator = detect_separator(tails)
    if not separator:
        raise InvalidRequest(
            "The prompts share no separator at their end, so the trained format is ambiguous.",
            details=[{"field": "prompt.separator", "reason": "give the separator explicitly"}],
        )
    users = sum(t.endswith(separator) for t in tails)
    if users < len(tails):
        warnings.append(
            f"{len(tails) - users} of {len(tails)} prompts do not end with the separator "
            f"{separator!r} the rest use; {separator!r} is served"
        )
    return separator


def recover_format_file(path: Path) -> RecoveredFormat:
    """`recover_format` over a JSON Lines file (bad lines are skipped: `data` reports them)."""
    return recover_format(value for _, value, problem in jsonl.scan(path) if not problem)
