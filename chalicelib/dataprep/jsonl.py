"""Line-by-line JSON Lines reading that reports problems with their line numbers instead of dying.

Lines are split on b"\\n" only and decoded one at a time, so a bad byte is named by line and
offset, and characters such as U+2028 inside strings never split a record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chalicelib.progress import Progress

BLANK = "blank line"


def scan(path: Path, progress: Progress | None = None) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line number, parsed value, problem) for every line; value is None when problem is set.

    `progress`, if given, is advanced by bytes read.
    """
    offset = reported = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            start, offset = offset, offset + len(raw)
            if progress is not None and number % 4096 == 0:
                progress.advance(offset - reported)
                reported = offset
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, None, f"not valid UTF-8 (byte {start + exc.start} of the file)"
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                yield number, None, BLANK
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield number, None, f"malformed JSON: {exc.msg} at column {exc.colno}"


def locate_bad_utf8(path: Path) -> tuple[int, int] | None:
    """(line, byte offset) of the first byte that is not UTF-8, or None if the file is clean."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, offset + exc.start
            offset += len(raw)
    return None
