"""The model client's configuration (chalicelib/aws.py), through real calls to the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.providers.retries import ONE_ATTEMPT
from tests.conftest import ECHO_ARN


def test_model_client_leaves_parameter_validation_to_the_service(local_stack: Any) -> None:
    """Requests come from pydantic-bounded registry values, so botocore's per-call walk of the
    Converse shape is skipped (issue 16 item 3): an out-of-range value reaches the service
    instead of failing in botocore (ParamValidationError, raised before anything is sent)."""
    aws.reset_clients()
    runtime = aws.model_client(ONE_ATTEMPT.max_attempts)
    request = {
        "modelId": ECHO_ARN.format("converse"),
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 0},
    }
    try:
        answer = runtime.converse(**request)
    except ClientError as exc:  # the service's own refusal is fine: it was sent
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    else:
        assert answer["output"]["message"]["content"]


@pytest.mark.parametrize("attempts", [1, 3])
def test_model_config_keeps_the_time_budget_and_retries(attempts: int) -> None:
    config = aws.model_config(attempts)
    assert config.retries == {"mode": "standard", "total_max_attempts": attempts}
    assert config.parameter_validation is False


def test_one_model_client_per_attempt_count(local_stack: Any) -> None:
    """Reused across calls (the key is the count), distinct per count, forgotten on reset."""
    aws.reset_clients()
    three = aws.model_client(3)
    assert aws.model_client(3) is three and aws.model_client(1) is not three
    assert three.meta.config.retries["total_max_attempts"] == 3
    aws.reset_clients()
    assert aws.model_client(3) is not three
