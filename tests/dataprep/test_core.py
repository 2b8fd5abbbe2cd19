"""Pure pieces of prepare: the duplicate key, the collector, the line encoder, CLI escapes."""

from __future__ import annotations

import json

import pytest

from chalicelib.dataprep.commands import unescape
from chalicelib.dataprep.dedupe import collect, normalise
from chalicelib.dataprep.formats import LineEncoder, Tally, bedrock_record, openai_record

TRICKY = [
    "plain ascii text",
    "Two  spaces",
    " leading and trailing ",
    "tab\there",
    "new\nline and\r\ncrlf",
    "vertical\x0bfeed\x0cform",
    "file\x1cgroup\x1drecord\x1eunit\x1fseparators",
    "no-break\u00a0space and\u2003em space",
    "next\u0085line and line\u2028separator",
    "Straße İstanbul ΣΊΣΥΦΟΣ",
    'quotes " and backslash \\ and del \x7f and nul \x00',
    "emoji 😀 ok",
]


@pytest.mark.parametrize("text", TRICKY)
def test_normalise_matches_casefold_and_split(text: str) -> None:
    assert normalise(text) == " ".join(text.casefold().split())


def _rows(pairs: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    return [(i + 2, text, label) for i, (text, label) in enumerate(pairs)]


def test_hash_collisions_never_merge_different_texts() -> None:
    pairs = [
        ("alpha", "a"),
        ("beta", "b"),
        ("ALPHA", "a"),
        ("gamma", "a"),
        ("Beta ", "c"),
        ("beta", "b"),
    ]
    normal = collect(_rows(pairs))
    colliding = collect(_rows(pairs), key_hash=lambda _: 0)  # every text hashes alike
    for result in (normal, colliding):
        assert result.texts == ["alpha", "beta", "gamma"]
        assert result.conflicts == {1: {"b", "c"}}
        assert (result.exact_duplicates, result.normalised_duplicates) == (0, 1)
        assert result.conflict_rows == 3
        assert result.kept() == [0, 2]


def test_exact_means_same_spelling_as_any_earlier_row() -> None:
    pairs = [(" x y", "l"), ("X Y", "l"), (" x y", "l"), ("X Y", "l"), ("x  y", "l")]
    result = collect(_rows(pairs))
    assert result.texts == ["x y"]
    assert (result.exact_duplicates, result.normalised_duplicates) == (2, 2)


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("label", ["positive", 'néutral "q"', "x\ny"])
def test_encoded_lines_equal_json_dumps_of_the_record(text: str, label: str) -> None:
    cases = [
        (
            LineEncoder("openai", [label], separator=" ->", stop_suffix="\n"),
            openai_record(text, label, " ->", "\n"),
        ),
        (LineEncoder("bedrock", [label], separator=""), bedrock_record(text, label, None)),
        (
            LineEncoder("bedrock", [label], separator="", system='Sys "tem"\n'),
            bedrock_record(text, label, 'Sys "tem"\n'),
        ),
    ]
    for encoder, record in cases:
        tally = Tally([0])
        written = "".join(encoder.lines([text], [0], [0], tally))
        assert written == json.dumps(record, ensure_ascii=False) + "\n"
        assert json.loads(written) == record
        characters = sum(
            len(v)
            for v in (record.get("prompt"), record.get("completion"), record.get("system"))
            if v
        )
        characters += sum(len(m["content"]) for m in record.get("messages", []))
        assert (tally.labels, tally.tokens) == ([1], -(-characters // 4))


def test_encoder_batches_many_lines() -> None:
    texts = [f"text {i}" for i in range(2000)]
    tally = Tally([0, 0])
    chunks = list(
        LineEncoder("openai", ["a", "b"], separator="\n").lines(
            texts, [i % 2 for i in range(2000)], range(2000), tally
        )
    )
    lines = "".join(chunks).splitlines()
    assert len(chunks) > 1 and len(lines) == 2000
    assert json.loads(lines[1999]) == {"prompt": "text 1999\n", "completion": " b"}
    assert tally.labels == [1000, 1000]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (r"\n\n###\n\n", "\n\n###\n\n"),
        (r"\t->", "\t->"),
        (r"a\\nb", "a\\nb"),
        (r"\x41\u00e9", "Aé"),
        (r"keep \q as typed", r"keep \q as typed"),
        ("real\nnewline", "real\nnewline"),
    ],
)
def test_cli_escapes(typed: str, meant: str) -> None:
    assert unescape(typed) == meant
