"""Feedback tokens: bound to invocation and model, expiring, unforgeable without the secret."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidFeedbackToken
from chalicelib.tokens import issue_feedback_token, read_feedback_token, verify_feedback_token

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
