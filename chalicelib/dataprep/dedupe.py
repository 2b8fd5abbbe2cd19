"""One pass over the rows: drop unusable ones, keep the first of each normalised text, and find
texts that carry more than one label. Keeps one text and one hash per distinct text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chalicelib.dataprep.errors import DataError
from chalicelib.dataprep.readers import Row

# (stripped text, label) -> reason to drop the row, or None to keep it
RowFilter = Callable[[str, str], str | None]


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# ASCII characters that str.split() treats as whitespace, besides the single space.
_ODD_ASCII_SPACE = ("  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


def normalise(text: str) -> str:
    """The duplicate key: case-folded, whitespace runs collapsed to one space, ends trimmed.

    Most texts are ASCII with single spaces only; for those, lower() gives the same key
    without building a list of words (the hot path of prepare).
    """
    if text.isascii() and text[:1] != " " and text[-1:] != " ":
        for odd in _ODD_ASCII_SPACE:
            if odd in text:
                break
        else:
            return text.lower()
    return " ".join(text.casefold().split())


@dataclass
class Collected:
    """Distinct texts in first-seen order, with what was removed and why."""

    texts: list[str] = field(default_factory=list)  # stripped, as they will be written
    labels: list[int] = field(default_factory=list)  # index into label_names
    label_names: list[str] = field(default_factory=list)
    conflicts: dict[int, set[str]] = field(default_factory=dict)  # text index -> labels seen
    rows_read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    exact_duplicates: int = 0
    normalised_duplicates: int = 0
    conflict_rows: int = 0

    def kept(self) -> list[int]:
        """Indices of the texts that survive (conflicting ones are removed entirely)."""
        if not self.conflicts:
            return list(range(len(self.texts)))
        return [i for i in range(len(self.texts)) if i not in self.conflicts]


def _not_unicode(source: str, line: int) -> DataError:
    return DataError(f"{source}:{line}: text or label is not valid Unicode (an unpaired surrogate)")


def collect(
    rows: Iterable[Row],
    row_filter: RowFilter | None = None,
    source: str = "",
    key_hash: Callable[[str], int] = hash,
) -> Collected:
    """Read every row once; repeats of a conflicting text count as conflict rows, not duplicates.

    Texts are found again by `key_hash` of their normalised form, always confirmed against the
    kept text: a dict of ints costs far less memory than one of whole texts, and a collision
    (different texts, same hash) falls back to a table keyed by the normalised text itself.
    """
    out = Collected()
    texts, labels, names = out.texts, out.labels, out.label_names
    append_text, append_label = texts.append, labels.append
    seen: dict[int, int] = {}
    colliding: dict[str, int] = {}
    label_ids: dict[str, int] = {}
    repeats: dict[int, list[int]] = {}  # text index -> [exact, normalised] repeats
    spellings: dict[int, set[str]] = {}  # every spelling of a repeated text, as read
    unstripped: dict[int, str] = {}  # the kept text as read, where that differs from stripped
    read = 0
    for line, text, label in rows:
        read += 1
        stripped = text.strip()
        if not stripped:
            out.dropped["empty_text"] += 1
            continue
        label = label.strip()
        if not label:
            out.dropped["empty_label"] += 1
            continue
        if row_filter is not None:
            reason = row_filter(stripped, label)
            if reason:
                out.dropped[reason] += 1
                continue
        label_id = label_ids.get(label)
        if label_id is None:
            if not _encodable(label):
                raise _not_unicode(source, line)
            label_id = label_ids[label] = len(names)
            names.append(label)
        if not stripped.isascii() and not _encodable(stripped):
            raise _not_unicode(source, line)  # only JSON escapes can smuggle in a lone surrogate
        key = normalise(stripped)
        hashed = key_hash(key)
        first = seen.get(hashed)
        if first is None:
            seen[hashed] = len(texts)
        elif texts[first] != stripped and normalise(texts[first]) != key:
            first = colliding.get(key)
            if first is None:
                colliding[key] = len(texts)
        if first is None:
            if len(stripped) != len(text):
                unstripped[len(texts)] = text
            append_text(stripped)
            append_label(label_id)
            continue
        counts = repeats.get(first)
        if counts is None:
            counts = repeats[first] = [0, 0]
            spellings[first] = {unstripped.get(first, texts[first])}
        if text in spellings[first]:
            counts[0] += 1
        else:
            counts[1] += 1
            spellings[first].add(text)
        if label_id != labels[first]:
            out.conflicts.setdefault(first, {names[labels[first]]}).add(label)
    out.rows_read = read
    for index, (exact, normalised) in repeats.items():
        if index in out.conflicts:
            out.conflict_rows += 1 + exact + normalised
        else:
            out.exact_duplicates += exact
            out.normalised_duplicates += normalised
    return out
