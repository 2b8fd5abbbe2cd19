"""Stream (line, text, label) rows out of CSV, TSV or JSON Lines files, with clear errors."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from chalicelib.dataprep import jsonl
from chalicelib.dataprep.errors import DataError
from chalicelib.progress import Progress

InputKind = Literal["csv", "tsv", "jsonl"]
Row = tuple[int, str, str]

_EXTENSIONS: dict[str, InputKind] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_REPORT_EVERY = 4096  # rows between progress updates
csv.field_size_limit(1 << 30)  # reviews and documents can exceed the 128 KiB default


def detect_kind(path: Path) -> InputKind:
    """By extension, else by sniffing the start: '{' means JSON Lines, a tab in the header TSV."""
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind:
        return kind
    with open(path, "rb") as handle:
        head = handle.read(65536)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise DataError(f"{path}: empty file")
    if text.startswith(b"{"):
        return "jsonl"
    header = text.split(b"\n", 1)[0]
    return "tsv" if header.count(b"\t") > header.count(b",") else "csv"


def read_rows(
    path: Path, text_column: str, label_column: str, progress: Progress | None = None
) -> Iterator[Row]:
    """Every data row as (line number, text, label); raises DataError on unusable input.

    A missing file fails here; problems inside the file fail while iterating.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    kind = detect_kind(path)
    if kind == "jsonl":
        return _json_rows(path, text_column, label_column, progress)
    delimiter = "\t" if kind == "tsv" else ","
    return _delimited_rows(path, delimiter, text_column, label_column, progress)


def _missing(path: Path, columns: list[str], available: list[str]) -> DataError:
    """Name the missing columns, the ones there are, and a match differing only in case."""
    shown = ", ".join(repr(name) for name in available[:20]) or "none"
    names = " and ".join(repr(name) for name in columns)
    noun = "column" if len(columns) == 1 else "columns"
    folded = {name.casefold(): name for name in reversed(available)}  # the first spelling wins
    hints = [repr(folded[c.casefold()]) for c in columns if c.casefold() in folded]
    hint = f"; names are case-sensitive: did you mean {' and '.join(hints)}?" if hints else ""
    return DataError(f"{path}: no {noun} {names}; the columns are: {shown}{hint}")


def _delimited_rows(
    path: Path, delimiter: str, text_column: str, label_column: str, progress: Progress | None
) -> Iterator[Row]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            while header is not None and not header:
                header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file")
            names = [name.strip() for name in header]
            absent = [c for c in (text_column, label_column) if c not in names]
            if absent:
                raise _missing(path, absent, names)
            text_at, label_at, width = (
                names.index(text_column),
                names.index(label_column),
                len(names),
            )
            previous_end, position, count = reader.line_num, 0, 0
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(
                        f"{path}:{start}: expected {width} fields like the header, found {len(row)}"
                    )
                yield start, row[text_at], row[label_at]
                count += 1
                if progress is not None and count % _REPORT_EVERY == 0:
                    now = handle.buffer.tell()  # type: ignore[attr-defined]
                    progress.advance(now - position)
                    position = now
            if count == 0:
                raise DataError(f"{path}: no data rows after the header")
    except UnicodeDecodeError:
        where = jsonl.locate_bad_utf8(path)
        line, byte = where if where else (0, 0)
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {byte} of the file)") from None
    except csv.Error as exc:
        raise DataError(
            f"{path}:{reader.line_num}: unreadable {delimiter!r}-separated data: {exc}"
        ) from None


def _scalar(path: Path, line: int, column: str, value: Any) -> str:
    """JSON values as text: strings as they are, numbers and booleans as written, null as empty."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise DataError(f"{path}:{line}: field {column!r} is a JSON {type(value).__name__}, not text")


def _json_rows(
    path: Path, text_column: str, label_column: str, progress: Progress | None
) -> Iterator[Row]:
    count = 0
    for line, value, problem in jsonl.scan(path, progress):
        if problem == jsonl.BLANK:
            continue
        if problem:
            raise DataError(f"{path}:{line}: {problem}")
        if not isinstance(value, dict):
            raise DataError(f"{path}:{line}: expected a JSON object, found {type(value).__name__}")
        absent = [c for c in (text_column, label_column) if c not in value]
        if absent:
            if count == 0:
                raise _missing(path, absent, list(value))
            raise DataError(f"{path}:{line}: no field {absent[0]!r} in this record")
        yield (
            line,
            _scalar(path, line, text_column, value[text_column]),
            _scalar(path, line, label_column, value[label_column]),
        )
        count += 1
    if count == 0:
        raise DataError(f"{path}: empty file (no JSON records)")
