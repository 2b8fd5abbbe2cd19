"""A provider's own error text never reaches the client: the emulator answers a
ValidationException naming the provisioned ARN and account; the client gets our message, the log
gets the provider's reason with both redacted."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from chalicelib.providers.upstream import redact
from tests.conftest import log_lines
from tests.test_api_invoke import POSITIVE, error_of, invoke

ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghij12"
LEAK = f"Malformed input request for {ARN} (account 123456789012): max_tokens exceeds 4096"


@pytest.mark.parametrize("model", ["sentiment-converse", "echo-titan", "echo-openai-chat"])
def test_a_rejection_shows_our_message_and_logs_the_redacted_reason(
    client: Any, emulator: Any, log_stream: io.StringIO, model: str
) -> None:
    emulator.script([{"error": "ValidationException", "message": LEAK}])

    response = invoke(client, model, {"input": POSITIVE})

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    body = response.body.decode()
    for secret in ("arn:", "123456789012", "abcdefghij12", "Malformed input", "4096"):
        assert secret not in body, (secret, body)
    [line] = [r for r in log_lines(log_stream) if r["message"] == "model rejected the request"]
    assert line["provider"] == ("openai" if "openai" in model else "bedrock")
    assert "max_tokens exceeds 4096" in line["provider_message"]
    assert "123456789012" not in json.dumps(line) and "abcdefghij12" not in json.dumps(line)


def test_redact_hides_arns_and_account_ids_only() -> None:
    text = (
        f"{ARN}, arn:aws-us-gov:iam::210987654321:role/x and account 000000000000 "
        "but not 1234567890123 or 4096"
    )
    assert redact(text) == (
        "arn:<redacted>, arn:<redacted> and account <account-id> but not 1234567890123 or 4096"
    )
