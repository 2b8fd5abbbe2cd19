"""Held-out datasets (CONTRACT section 4): JSON Lines in any of three shapes, detected per line,
read as a stream and validated in full, with line numbers, before any model is called."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.formats import Message

MAX_REPORTED_PROBLEMS = 1000
#: Raw lines as a file or an S3 body yields them; opened again for every pass.
LineSource = Callable[[], Iterable[bytes | str]]
#: A deployment-specific check of one item (e.g. a number model needs numeric references).
ItemCheck = Callable[["Item"], str | None]


class DatasetError(Exception):
    """A dataset that cannot be evaluated; `problems` are (line number, message), line 0 being
    the file as a whole. Only the first MAX_REPORTED_PROBLEMS are kept; `n_problems` counts all."""

    def __init__(self, name: str, problems: Sequence[tuple[int, str]], n_problems: int) -> None:
        self.name = name
        self.problems = list(problems)
        self.n_problems = n_problems
        lines = [f"line {n}: {message}" if n else message for n, message in self.problems[:20]]
        more = n_problems - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        noun = "problem" if n_problems == 1 else "problems"
        super().__init__(f"{name}: {n_problems} {noun}\n  " + "\n  ".join(lines))

    def details(self) -> list[dict[str, Any]]:
        """The problems in the API's error-details shape."""
        return [{"line": n, "reason": message} for n, message in self.problems]


@dataclass(frozen=True, slots=True)
class Item:
    """One held-out example: `input` is text or the conversation before the reference turn."""

    index: int
    line: int
    input: str | tuple[Message, ...]
    reference: str
    system: str | None = None
    category: str | None = None

    def input_json(self) -> str | list[dict[str, str]]:
        if isinstance(self.input, str):
            return self.input
        return [{"role": m.role, "content": m.content} for m in self.input]

    def to_record(self) -> dict[str, Any]:
        """A JSON form that `from_record` reads back (queue messages, job storage)."""
        record: dict[str, Any] = {
            "index": self.index,
            "line": self.line,
            "input": self.input_json(),
            "reference": self.reference,
        }
        if self.system is not None:
            record["system"] = self.system
        if self.category is not None:
            record["category"] = self.category
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Item:
        raw = record["input"]
        value: str | tuple[Message, ...] = (
            raw if isinstance(raw, str) else tuple(Message(m["role"], m["content"]) for m in raw)
        )
        return cls(
            index=int(record["index"]),
            line=int(record["line"]),
            input=value,
            reference=str(record["reference"]),
            system=record.get("system"),
            category=record.get("category"),
        )


class _Problem(Exception):
    pass


def _text(record: Mapping[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise _Problem(f"'{key}' must be a string")
    if not allow_empty and not value.strip():
        raise _Problem(f"'{key}' is empty")
    return value


def _content(message: Any, i: int) -> tuple[str, str]:
    if not isinstance(message, dict):
        raise _Problem(f"messages[{i}] must be an object with 'role' and 'content'")
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        raise _Problem(f"messages[{i}].role must be 'user' or 'assistant'")
    if isinstance(content, list):  # Nova-style content blocks: [{"text": ...}, ...]
        if not all(isinstance(b, dict) and isinstance(b.get("text"), str) for b in content):
            raise _Problem(f"messages[{i}].content blocks must be objects with 'text'")
        content = "".join(block["text"] for block in content)
    if not isinstance(content, str):
        raise _Problem(f"messages[{i}].content must be a string")
    if not content.strip():
        raise _Problem(f"messages[{i}].content is empty")
    return role, content


def _conversation(record: Mapping[str, Any]) -> tuple[tuple[Message, ...], str, str | None]:
    messages = record["messages"]
    if not isinstance(messages, list) or len(messages) < 2:
        raise _Problem("'messages' must be a list of at least a user and an assistant message")
    turns = [_content(message, i) for i, message in enumerate(messages)]
    if turns[-1][0] != "assistant":
        raise _Problem("the last message (the reference) must have role 'assistant'")
    if turns[-2][0] != "user":
        raise _Problem("the message before the reference must have role 'user'")
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise _Problem("'system' must be a string")
    prompt = tuple(Message(role, content) for role, content in turns[:-1])  # type: ignore[arg-type]
    return prompt, turns[-1][1], system or None


# Each shape: the keys that identify it, then its (input key, reference key) for flat shapes.
_SHAPES: dict[str, tuple[frozenset[str], tuple[str, str] | None]] = {
    "bedrock-conversation": (frozenset({"messages"}), None),
    "bedrock-evaluation": (frozenset({"input", "target"}), ("input", "target")),
    "bedrock-evaluation-prompt": (
        frozenset({"prompt", "referenceResponse"}),
        ("prompt", "referenceResponse"),
    ),
    "openai": (frozenset({"prompt", "completion"}), ("prompt", "completion")),
}


def parse_record(record: Any, index: int, line: int) -> Item:
    """Read one decoded line as an Item; raises ValueError naming what is wrong."""
    try:
        return _parse(record, index, line)
    except _Problem as problem:
        raise ValueError(str(problem)) from None


def _parse(record: Any, index: int, line: int) -> Item:
    if not isinstance(record, dict):
        raise _Problem(f"expected a JSON object, got {type(record).__name__}")
    keys = set(record)
    shapes = [name for name, (needed, _) in _SHAPES.items() if needed <= keys]
    if len(shapes) > 1:
        raise _Problem(f"ambiguous: has the keys of several shapes ({', '.join(shapes)})")
    if not shapes:
        raise _Problem(_unknown_shape(keys))
    category = record.get("category")
    if category is not None and (not isinstance(category, str) or not category.strip()):
        raise _Problem("'category' must be a non-empty string")
    flat = _SHAPES[shapes[0]][1]
    if flat is None:
        conversation, reference, system = _conversation(record)
        text: str | tuple[Message, ...] = conversation
    else:
        text, reference, system = _text(record, flat[0]), _text(record, flat[1]), None
    reference = reference.strip()
    if not reference:
        raise _Problem("the reference is empty")
    return Item(index, line, text, reference, system, category)


_KNOWN_KEYS = frozenset().union(*(needed for needed, _ in _SHAPES.values()), {"system", "category"})


def _unknown_shape(keys: set[str]) -> str:
    """Names only keys of the dataset shapes: a line that is no dataset record (another file
    named by mistake, or on purpose) must not have its keys or content echoed back."""
    known = sorted(keys & _KNOWN_KEYS)
    others = len(keys) - len(known)
    has = [", ".join(repr(k) for k in known)] if known else []
    if others:
        has.append(f"{others} other {'key' if others == 1 else 'keys'}")
    return (
        "unknown shape: expected {prompt, completion}, {system?, messages}, {input, target} "
        f"or {{prompt, referenceResponse}}; the object has {' and '.join(has) or 'no keys'}"
    )


def _decode(raw: bytes | str, number: int) -> str:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Problem(f"not valid UTF-8 (byte {exc.start} of the line)") from None
    else:
        text = raw
    return text.removeprefix("\ufeff") if number == 1 else text


def scan(
    lines: Iterable[bytes | str], check: ItemCheck | None = None
) -> Iterator[tuple[int, Item | None, str | None]]:
    """(line number, item, problem) per line; `index` counts only the lines without a problem,
    so every pass over the same data numbers items the same way."""
    index = 0
    for number, raw in enumerate(lines, 1):
        try:
            text = _decode(raw, number)
            if not text.strip():
                raise _Problem("blank line")
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _Problem(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
            item = _parse(record, index, number)
            problem = check(item) if check is not None else None
            if problem is not None:
                raise _Problem(problem)
        except _Problem as bad:
            yield number, None, str(bad)
            continue
        index += 1
        yield number, item, None


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    n_items: int
    skipped_lines: int


class Dataset:
    """A re-readable dataset: `validate()` reads it all once, `items()` streams it again."""

    def __init__(
        self,
        name: str,
        open_lines: LineSource,
        *,
        check: ItemCheck | None = None,
        skip_invalid_lines: bool = False,
    ) -> None:
        self.name = name
        self._open = open_lines
        self.check = check
        self.skip_invalid_lines = skip_invalid_lines

    @classmethod
    def from_path(cls, path: str | Path, **options: Any) -> Dataset:
        file = Path(path)

        def open_lines() -> Iterator[bytes]:
            with open(file, "rb") as handle:
                yield from handle

        return cls(str(path), open_lines, **options)

    @classmethod
    def from_records(cls, name: str, records: Sequence[Any], **options: Any) -> Dataset:
        """Inline records (already decoded JSON values), one per line."""
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        return cls(name, lambda: lines, **options)

    def validate(self) -> DatasetSummary:
        """Read every line; raise DatasetError unless all are usable (or skipping is allowed and
        at least one item remains)."""
        problems: list[tuple[int, str]] = []
        n_problems = n_items = 0
        for number, _item, problem in scan(self._open(), self.check):
            if problem is None:
                n_items += 1
                continue
            n_problems += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append((number, problem))
        if n_problems and not self.skip_invalid_lines:
            raise DatasetError(self.name, problems, n_problems)
        if n_items == 0:
            message = "the dataset has no usable items" if n_problems else "the dataset is empty"
            raise DatasetError(self.name, [(0, message), *problems], n_problems + 1)
        return DatasetSummary(n_items, n_problems)

    def items(self, limit: int | None = None) -> Iterator[Item]:
        """The usable items in file order, the first `limit` of them if given."""
        if limit is not None and limit <= 0:
            return
        count = 0
        for _, item, _ in scan(self._open(), self.check):
            if item is not None:
                yield item
                count += 1
                if count == limit:
                    return
