"""Check a fine-tuning file against the service's rules before paying for a failed job.

Every finding carries its line number (None for file-level rules such as record counts).
Violations are what the service rejects or cannot learn from: they make validate exit 1.
Warnings (quality.py: duplicates, conflicting labels, few records, all caps, boilerplate) are
advice and leave the exit status alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chalicelib.dataprep import jsonl, rules
from chalicelib.dataprep.quality import QualityCheck
from chalicelib.dataprep.tokens import record_tokens

Role = Literal["training", "validation"]
_TAIL = 64  # prompt characters kept per line for separator detection
# Separators worth recognising even when some lines lack them (longest first).
_KNOWN_SEPARATORS = ("\n\n###\n\n", "\n\n###\n", "\n###\n", "###", "\n\n", " ->", "->", "\n")
_KNOWN_STOPS = ("<|endoftext|>", "\n###", "###", " END", "\nEND", "\n")


@dataclass(frozen=True)
class Violation:
    line: int | None
    message: str
    warning: bool = False  # advice only: does not fail validation

    def render(self, path: Path | str) -> str:
        message = f"warning: {self.message}" if self.warning else self.message
        return f"{path}:{self.line}: {message}" if self.line else f"{path}: {message}"


def _reserved(text: str) -> str | None:
    return next((marker for marker in rules.BEDROCK_RESERVED if marker in text), None)


def _too_long(record: Any, limit: int) -> list[str]:
    tokens = record_tokens(record)
    if tokens <= limit:
        return []
    return [f"about {tokens:,} tokens (estimated); the limit is {limit:,} (--max-tokens)"]


def check_bedrock_record(
    record: Any, max_tokens: int = rules.BEDROCK_MAX_RECORD_TOKENS
) -> list[str]:
    """Problems of one Bedrock conversational record (Claude 3 Haiku fine-tuning rules)."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {type(record).__name__}"]
    problems = []
    extra = sorted(set(record) - rules.BEDROCK_KEYS)
    if extra:
        problems.append(f"unexpected keys {extra}; only 'system' and 'messages' are allowed")
    if "system" in record:
        system = record["system"]
        if not isinstance(system, str):
            problems.append("'system' must be a string")
        elif marker := _reserved(system):
            problems.append(f"'system' contains {marker!r}")
    messages = record.get("messages")
    if messages is None:
        return [*problems, "missing 'messages'"]
    if not isinstance(messages, list):
        return [*problems, "'messages' must be a list"]
    if len(messages) < 2:
        problems.append(
            f"needs at least two messages (user, then assistant), found {len(messages)}"
        )
    previous = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            problems.append(f"messages[{i}] must be an object with 'role' and 'content'")
            previous = None
            continue
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            problems.append(f"messages[{i}] has unexpected keys {extra}")
        role, content = message.get("role"), message.get("content")
        if role not in ("user", "assistant"):
            problems.append(f"messages[{i}].role must be 'user' or 'assistant', found {role!r}")
        elif i == 0 and role != "user":
            problems.append("the first message must come from 'user'")
        elif role == previous:
            problems.append(f"messages[{i}] repeats role {role!r}; roles must alternate")
        previous = role
        if not isinstance(content, str):
            problems.append(f"messages[{i}].content must be a string")
        elif not content.strip():
            problems.append(f"messages[{i}].content is empty")
        elif marker := _reserved(content):
            problems.append(f"messages[{i}].content contains {marker!r}")
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") != "assistant":
        problems.append("the last message must come from 'assistant'")
    return problems + _too_long(record, max_tokens)


def check_openai_record(record: Any, max_tokens: int = rules.OPENAI_MAX_RECORD_TOKENS) -> list[str]:
    """Problems of one OpenAI legacy record that can be judged without the rest of the file."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {type(record).__name__}"]
    problems = []
    extra = sorted(set(record) - rules.OPENAI_KEYS)
    if extra:
        problems.append(f"unexpected keys {extra}; only 'prompt' and 'completion' are allowed")
    for key in ("prompt", "completion"):
        if key not in record:
            problems.append(f"missing {key!r}")
        elif not isinstance(record[key], str):
            problems.append(f"{key!r} must be a string")
    completion = record.get("completion")
    if isinstance(completion, str):
        if not completion:
            problems.append("'completion' is empty")
        elif not completion[0].isspace():
            problems.append("'completion' must start with whitespace (e.g. one space)")
    return problems + _too_long(record, max_tokens)


def _walk_suffix(tails: list[str]) -> tuple[str, int] | None:
    """Longest suffix shared by most prompts, grown while it keeps 90% of its followers."""
    group, best = tails, None
    for k in range(1, _TAIL + 1):
        counts = Counter(t[-k:] for t in group if len(t) >= k)
        if not counts:
            break
        suffix, count = counts.most_common(1)[0]
        if count * 2 < len(tails) or (best and count < 0.9 * best[1]):
            break
        best = (suffix, count)
        group = [t for t in group if t.endswith(suffix)]
    return best


def detect_separator(tails: list[str]) -> str | None:
    """The separator most prompts end with, or None when they share no ending.

    A known separator used by at least half the prompts wins (so lines missing it are found),
    except that a bare-whitespace one gives way to a longer ending shared by just as many
    prompts (e.g. '\n\nSentiment:' rather than '\n\n').
    """
    half = len(tails) / 2
    known = next(
        ((s, n) for s in _KNOWN_SEPARATORS if (n := sum(t.endswith(s) for t in tails)) >= half),
        None,
    )
    walked = _walk_suffix(tails)
    if known and walked:
        longer = walked[0].endswith(known[0]) and walked[1] == known[1]
        return walked[0] if longer and not known[0].strip() else known[0]
    chosen = known or walked
    return chosen[0] if chosen else None


def stop_of(completion: str) -> str:
    return next((stop for stop in _KNOWN_STOPS if completion.endswith(stop)), "")


def _openai_file_checks(
    prompts: list[tuple[int, str]], completions: list[tuple[int, str]], separator: str | None
) -> Iterator[Violation]:
    """Rules that need the whole file: one separator, one stop suffix (or none)."""
    if prompts:
        if separator is None:
            yield Violation(None, "the prompts do not share a separator at their end")
        else:
            users = sum(tail.endswith(separator) for _, tail in prompts)
            for line, tail in prompts:
                if not tail.endswith(separator):
                    yield Violation(
                        line,
                        f"prompt does not end with the separator {separator!r} "
                        f"({users} of {len(prompts)} prompts do)",
                    )
                elif not tail[: -len(separator)].strip() and len(tail) < _TAIL:
                    yield Violation(line, "prompt has no text before the separator")
    if completions:
        stops = Counter(stop_of(text) for _, text in completions)
        stop, users = stops.most_common(1)[0]
        for line, text in completions:
            found = stop_of(text)
            if found != stop:
                expected = f"the stop suffix {stop!r}" if stop else "no stop suffix"
                yield Violation(
                    line,
                    f"completion ends with {found!r} but {users} of {len(completions)} "
                    f"completions have {expected}"
                    if found
                    else f"completion lacks the stop suffix {stop!r} "
                    f"({users} of {len(completions)} completions end with it)",
                )


def _holds_separator(prompt: str, separator: str) -> bool:
    """The prompt ends with the separator and also holds it before that end."""
    end = len(prompt) - len(separator)
    return prompt.endswith(separator) and prompt.find(separator, 0, end) >= 0


def _separator_inside(
    path: Path, separator: str, known: dict[str, list[int]]
) -> Iterator[Violation]:
    """Prompts holding the separator before their end: the model cannot tell where they end.

    The separator is known only once every prompt was seen: the first pass noted the lines for
    the usual separators (`known`); any other takes a second pass over the file.
    """
    if separator in known:
        lines: Iterable[int] = known[separator]
    else:
        lines = (
            line
            for line, value, problem in jsonl.scan(path)
            if not problem
            and isinstance(value, dict)
            and isinstance(value.get("prompt"), str)
            and _holds_separator(value["prompt"], separator)
        )
    for line in lines:
        yield Violation(
            line,
            f"the separator {separator!r} also occurs inside the prompt; the model "
            "cannot tell where the prompt ends",
        )


def _conversation(record: Any) -> tuple[str, str, str] | None:
    """(prompt, completion, system) of a Bedrock record well-formed enough to compare."""
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or len(messages) < 2:
        return None
    contents = [m.get("content") if isinstance(m, dict) else None for m in messages]
    texts = [c for c in contents if isinstance(c, str)]
    if len(texts) != len(contents):
        return None
    system = record.get("system")
    return "\n".join(texts[:-1]), texts[-1], system if isinstance(system, str) else ""


def validate_file(
    path: Path, fmt: str, role: Role = "training", max_tokens: int | None = None
) -> tuple[int, list[Violation]]:
    """(records read, findings in line order, file-level ones last); OSError if unreadable."""
    violations: list[Violation] = []
    prompts: list[tuple[int, str]] = []
    completions: list[tuple[int, str]] = []
    quality = QualityCheck()
    inside: dict[str, list[int]] = {known: [] for known in _KNOWN_SEPARATORS}
    records = 0
    limit = rules.max_record_tokens(fmt, max_tokens)
    check = check_bedrock_record if fmt == "bedrock" else check_openai_record
    for line, value, problem in jsonl.scan(path):
        if problem:
            violations.append(Violation(line, problem))
            continue
        records += 1
        violations.extend(Violation(line, message) for message in check(value, limit))
        if fmt == "openai" and isinstance(value, dict):
            prompt, completion = value.get("prompt"), value.get("completion")
            ending = ""  # the longest known separator this prompt ends with
            if isinstance(prompt, str):
                prompts.append((line, prompt[-_TAIL:]))
                for known in _KNOWN_SEPARATORS:
                    if prompt.endswith(known):
                        ending = ending or known
                        if prompt.find(known, 0, len(prompt) - len(known)) >= 0:
                            inside[known].append(line)
            if isinstance(completion, str) and completion:
                completions.append((line, completion[-_TAIL:]))
                if isinstance(prompt, str):
                    own_stop = stop_of(completion)
                    quality.add(line, prompt, completion, stop=own_stop, separator=ending)
        elif fmt == "bedrock" and (conversation := _conversation(value)):
            prompt, completion, system = conversation
            quality.add(line, prompt, completion, system)
    separator: str | None = None
    stop = ""
    if fmt == "openai":
        separator = detect_separator([tail for _, tail in prompts]) if prompts else None
        violations.extend(_openai_file_checks(prompts, completions, separator))
        if separator:
            violations.extend(_separator_inside(path, separator, inside))
        if completions:
            stop = Counter(stop_of(text) for _, text in completions).most_common(1)[0][0]
    if records == 0:
        violations.append(Violation(None, "no records"))
    if fmt == "bedrock":
        low, high = rules.BEDROCK_RECORD_LIMITS[role]
        if not low <= records <= high:
            violations.append(
                Violation(
                    None, f"{records} records; Bedrock accepts {low:,}-{high:,} for {role} data"
                )
            )
    advice = quality.advice + quality.file_advice(role == "training", separator or "", stop)
    violations.extend(Violation(line, message, warning=True) for line, message in advice)
    violations.sort(key=lambda v: (v.line or 1 << 62, v.warning))
    return records, violations
