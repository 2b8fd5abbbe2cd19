"""The two fine-tuning record shapes, encoded straight to JSON Lines text.

Lines are assembled from pre-encoded pieces because labels repeat: this is the hot loop of
`prepare`, and the result is exactly what json.dumps(record, ensure_ascii=False) gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from json.encoder import encode_basestring, encode_basestring_ascii

from chalicelib.dataprep.tokens import estimate_tokens


def _json_str(text: str) -> str:
    """A JSON string literal, non-ASCII kept as is (the ASCII encoder is faster when it suffices)."""
    return encode_basestring_ascii(text) if text.isascii() else encode_basestring(text)


def openai_record(text: str, label: str, separator: str, stop_suffix: str = "") -> dict[str, str]:
    """OpenAI legacy fine-tuning: prompt ends with the separator, completion starts with a space."""
    return {"prompt": text + separator, "completion": " " + label + stop_suffix}


def bedrock_record(text: str, label: str, system: str | None) -> dict[str, object]:
    """Bedrock conversational fine-tuning: one user turn, one assistant turn, optional system."""
    record: dict[str, object] = {"system": system} if system else {}
    record["messages"] = [
        {"role": "user", "content": text},
        {"role": "assistant", "content": label},
    ]
    return record


class LineEncoder:
    """Encodes (text, label id) pairs as JSON Lines for one format, and counts their tokens."""

    def __init__(
        self,
        fmt: str,
        labels: Sequence[str],
        *,
        separator: str,
        stop_suffix: str = "",
        system: str | None = None,
    ) -> None:
        if fmt == "openai":
            self._prefix = '{"prompt": '
            self._text_suffix = separator
            self._tails = [
                ', "completion": ' + _json_str(" " + label + stop_suffix) + "}\n"
                for label in labels
            ]
            self._extra = [len(separator) + 1 + len(label) + len(stop_suffix) for label in labels]
        elif fmt == "bedrock":
            head = '{"system": ' + _json_str(system) + ", " if system else "{"
            self._prefix = head + '"messages": [{"role": "user", "content": '
            self._text_suffix = ""
            self._tails = [
                '}, {"role": "assistant", "content": ' + _json_str(label) + "}]}\n"
                for label in labels
            ]
            self._extra = [len(system or "") + len(label) for label in labels]
        else:
            raise ValueError(f"unknown format {fmt!r}")

    def lines(
        self, texts: Sequence[str], labels: Sequence[int], rows: Iterable[int]
    ) -> Iterator[str]:
        """JSON Lines text of the given rows, one record per line."""
        prefix, suffix, tails = self._prefix, self._text_suffix, self._tails
        ascii_str, any_str = encode_basestring_ascii, encode_basestring
        for row in rows:
            text = texts[row] + suffix
            encoded = ascii_str(text) if text.isascii() else any_str(text)
            yield prefix + encoded + tails[labels[row]]

    def total_tokens(self, texts: Sequence[str], labels: Sequence[int], rows: Iterable[int]) -> int:
        """Estimated tokens of the records these rows become (the rule validate and cost use)."""
        extra = self._extra
        return sum(estimate_tokens(len(texts[row]) + extra[labels[row]]) for row in rows)
