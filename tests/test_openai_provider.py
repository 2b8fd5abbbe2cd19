"""The OpenAI-compatible provider against the emulator's OpenAI routes: keys from the
environment or Secrets Manager (moto), kept-alive connections, error mapping."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.config.registry import Deployment
from chalicelib.errors import ModelError, ModelNotReady, Throttled
from chalicelib.formats import InferenceParams, Message, Prompt
from chalicelib.providers import complete

PROMPT = Prompt(messages=(Message("user", "hello there\n\n###\n\n"),))
PARAMS = InferenceParams(max_tokens=20, temperature=0.0, top_p=1.0)


@pytest.fixture(autouse=True)
def fresh_emulator(local_stack) -> None:
    local_stack.emulator.reset()


def deployment(emulator_url: str, **extra: object) -> Deployment:
    return Deployment.model_validate(
        {
            "name": "oa",
            "provider": "openai",
            "model_id": "echo",
            "request_format": "completions",
            "base_url": f"{emulator_url}/openai/v1",
            **extra,
        }
    )


def test_key_from_secrets_manager(local_stack) -> None:
    arn = boto3.client("secretsmanager").create_secret(
        Name="tunegate/test/openai-key", SecretString="sk-from-secret"
    )["ARN"]
    completion = complete(
        deployment(local_stack.emulator.url, api_key_secret_arn=arn), PROMPT, PARAMS
    )
    assert completion.text == "hello there\n\n###\n\n"


def test_missing_key_is_a_model_error_not_a_client_error(local_stack) -> None:
    with pytest.raises(ModelError, match="credentials"):
        complete(deployment(local_stack.emulator.url), PROMPT, PARAMS)


def test_kept_alive_connection_serves_many_calls(local_stack) -> None:
    emu = local_stack.emulator
    dep = deployment(emu.url, api_key_env="TEST_OPENAI_KEY")
    for _ in range(20):
        assert complete(dep, PROMPT, PARAMS).output_tokens == 3
    emu.reset()
    assert complete(dep, PROMPT, PARAMS).text.startswith("hello")


def test_throttling_and_unreachable(local_stack) -> None:
    emu = local_stack.emulator
    emu.reset()
    emu.set_faults(throttle_rate=1.0)
    with pytest.raises(Throttled):
        complete(deployment(emu.url, api_key_env="TEST_OPENAI_KEY"), PROMPT, PARAMS)
    emu.reset()
    unreachable = deployment("http://127.0.0.1:9", api_key_env="TEST_OPENAI_KEY")
    with pytest.raises(ModelNotReady):
        complete(unreachable, PROMPT, PARAMS)
