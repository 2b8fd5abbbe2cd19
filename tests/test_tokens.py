"""Feedback tokens: bound to invocation and model, expiring, unforgeable without the secret."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.errors import InvalidFeedbackToken
from chalicelib.serving.feedback_tokens import (
    issue_feedback_token,
    read_feedback_token,
    verify_feedback_token,
)

SECRET = b"secret"


def test_round_trip_and_binding() -> None:
    token = issue_feedback_token(SECRET, "inv-1", "model-a", now=1000, ttl_seconds=60)
    verify_feedback_token(SECRET, token, "inv-1", "model-a", now=1059)
    for args in (("inv-2", "model-a"), ("inv-1", "model-b")):
        with pytest.raises(InvalidFeedbackToken):
            verify_feedback_token(SECRET, token, *args, now=1000)
    with pytest.raises(InvalidFeedbackToken):
        verify_feedback_token(b"other", token, "inv-1", "model-a", now=1000)


def test_expiry_cannot_be_extended() -> None:
    token = issue_feedback_token(SECRET, "inv-1", "m", now=1000, ttl_seconds=60)
    with pytest.raises(InvalidFeedbackToken, match="expired"):
        verify_feedback_token(SECRET, token, "inv-1", "m", now=1061)
    version, _, model, signature = token.split(".")
    forged = f"{version}.{10**10}.{model}.{signature}"
    with pytest.raises(InvalidFeedbackToken):
        verify_feedback_token(SECRET, forged, "inv-1", "m", now=1061)


def test_model_names_with_dots_round_trip() -> None:
    token = issue_feedback_token(SECRET, "inv-1", "model.v2.1", now=1000, ttl_seconds=60)
    assert read_feedback_token(SECRET, token, "inv-1", now=1000) == "model.v2.1"


def test_model_in_clear_cannot_be_swapped() -> None:
    token = issue_feedback_token(SECRET, "inv-1", "model-a", now=1000, ttl_seconds=60)
    swapped = token.replace(".model-a.", ".model-b.")
    with pytest.raises(InvalidFeedbackToken):
        read_feedback_token(SECRET, swapped, "inv-1", now=1000)


@pytest.mark.parametrize(
    "token", ["", "v1", "v1.abc.m.sig", "v2.1.m.sig", "v1.1.sig", "v1.1..sig", "v1.1.m."]
)
def test_malformed(token: str) -> None:
    with pytest.raises(InvalidFeedbackToken):
        verify_feedback_token(SECRET, token, "inv-1", "m", now=0)


def _respell_expiry(token: str, spell: Callable[[str], str]) -> str:
    version, expires, rest = token.split(".", 2)
    return f"{version}.{spell(expires)}.{rest}"


RESPELLINGS: dict[str, Callable[[str], str]] = {
    "leading-zero": lambda t: _respell_expiry(t, lambda e: "0" + e),
    "arabic-indic-digits": lambda t: _respell_expiry(
        t, lambda e: "".join(chr(0x660 + int(d)) for d in e)
    ),
    "full-width-digits": lambda t: _respell_expiry(
        t, lambda e: "".join(chr(0xFF10 + int(d)) for d in e)
    ),
    "plus-sign": lambda t: _respell_expiry(t, lambda e: "+" + e),
    "inner-space": lambda t: _respell_expiry(t, lambda e: " " + e),
    "padded-base64": lambda t: t + "=",
    "trailing-newline": lambda t: t + "\n",
    "upper-case-version": lambda t: "V1" + t[2:],
}


@pytest.mark.parametrize("name", RESPELLINGS)
def test_one_spelling_per_token(name: str) -> None:
    """A genuine token respelled (same number, same bytes) is refused as malformed."""
    token = issue_feedback_token(SECRET, "inv-1", "m", now=1000, ttl_seconds=60)
    with pytest.raises(InvalidFeedbackToken, match="malformed"):
        read_feedback_token(SECRET, RESPELLINGS[name](token), "inv-1", now=1000)


@pytest.mark.parametrize(
    "token",
    [
        "v1.\u00b2.drug-review-sentiment.x",  # "²".isdigit() is true, int("²") raises
        "v1.1060.m.\u00e9" + "A" * 42,  # hmac.compare_digest refuses non-ASCII strings
        "v1.1060.M\u0130.sig",
        "v1." + "9" * 5000 + ".m.sig",  # beyond int()'s digit limit
        "v1.0.m." + "A" * 43,
    ],
    ids=["superscript-digit", "non-ascii-signature", "non-ascii-model", "huge-expiry", "zero"],
)
def test_hostile_tokens_are_refused_not_crashed(token: str) -> None:
    with pytest.raises(InvalidFeedbackToken, match="malformed"):
        read_feedback_token(SECRET, token, "inv-1", now=1000)
