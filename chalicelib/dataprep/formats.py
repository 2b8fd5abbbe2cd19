"""The two fine-tuning record shapes, encoded straight to JSON Lines text.

Lines are assembled from pre-encoded pieces because labels repeat: this is the hot loop of
`prepare`, and the result is exactly what json.dumps(record, ensure_ascii=False) gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii

from chalicelib.dataprep.tokens import estimate_tokens


def _json_str(text: str) -> str:
    """A JSON string literal with non-ASCII kept as is (the ASCII encoder is faster)."""
    return encode_basestring_ascii(text) if _plain_ascii(text) else encode_basestring(text)


def _plain_ascii(text: str) -> bool:
    # The ASCII encoder would escape DEL as \u007f where json.dumps(ensure_ascii=False) keeps it.
    return text.isascii() and "\x7f" not in text


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


_BATCH = 3 * 512  # pieces (three per line) joined per write: fewer, larger writes


@dataclass
class Tally:
    """What was written to one split: records per label id, and their estimated tokens."""

    labels: list[int]
    tokens: int = 0


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
        self, texts: Sequence[str], labels: Sequence[int], rows: Iterable[int], tally: Tally
    ) -> Iterator[str]:
        """JSON Lines text of the given rows, in batches of lines; counts them into `tally`."""
        prefix, suffix, tails, extra = self._prefix, self._text_suffix, self._tails, self._extra
        ascii_str, any_str = encode_basestring_ascii, encode_basestring
        per_label, tokens = tally.labels, 0
        batch: list[str] = []
        for row in rows:
            label = labels[row]
            text = texts[row]
            per_label[label] += 1
            tokens += estimate_tokens(len(text) + extra[label])
            if suffix:
                text += suffix
            # pieces, not a concatenated line: the join below copies each character once
            plain = text.isascii() and "\x7f" not in text  # as _plain_ascii, inlined: hot loop
            batch += (prefix, ascii_str(text) if plain else any_str(text), tails[label])
            if len(batch) >= _BATCH:
                yield "".join(batch)
                batch.clear()
        tally.tokens += tokens
        if batch:
            yield "".join(batch)
