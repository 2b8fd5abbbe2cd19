"""The one OpenAI fine-tuning client's error mapping (tuning and provisioning both use it)."""

from __future__ import annotations

import json

import pytest

from chalicelib.errors import InvalidRequest, ModelError, NotFound, Throttled, TunegateError
from chalicelib.tuning import openai_api


def refusal(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, InvalidRequest, False),
        (409, InvalidRequest, False),
        (422, InvalidRequest, False),
        (404, NotFound, False),
        (429, Throttled, True),
        (401, ModelError, False),
        (403, ModelError, False),
        (500, ModelError, True),
        (503, ModelError, True),
    ],
)
def test_each_status_maps_to_one_error(
    status: int, kind: type[TunegateError], retryable: bool
) -> None:
    found = openai_api.error(status, refusal("training_file is not valid"))
    assert type(found) is kind
    assert found.retryable is retryable
    if status not in (401, 403):  # a credentials refusal says nothing of OpenAI's reason
        assert "training_file is not valid" in found.message


def test_an_unreadable_refusal_keeps_a_clipped_body() -> None:
    found = openai_api.error(400, b"<html>" + b"x" * 1000)
    assert isinstance(found, InvalidRequest) and len(found.message) < 400
