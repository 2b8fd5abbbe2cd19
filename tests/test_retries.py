"""The one retry policy (chalicelib/providers/retries.py): which errors are retried, how often
and by whom, counted at the emulator on both providers, for the invoke path and the evaluation
runner, on a stage with no retry overrides."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.config.registry import Deployment
from chalicelib.errors import (
    InvalidRequest,
    ModelError,
    ModelNotReady,
    ModelTimeout,
    ServiceUnavailable,
    Throttled,
)
from chalicelib.evaluation.datasets import Dataset, Item
from chalicelib.evaluation.runner import evaluate_chunk
from chalicelib.providers.bedrock import map_client_error
from chalicelib.providers.retries import EVALUATION, ONE_ATTEMPT, RetryPolicy, invoke_policy
from tests.conftest import auth_headers

ROOT = Path(__file__).resolve().parents[1]
#: The runner's attempts as documented, without waiting between them.
NO_WAIT = replace(EVALUATION, max_delay=0.0)
LABELS = {"type": "label", "labels": ["negative", "neutral", "positive"]}
OPENAI_REFUSALS = [401, 403, 404]


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Converse")


# --- the policy, without any model -------------------------------------------------------------


def test_which_errors_are_retried_and_how_often() -> None:
    policy = EVALUATION
    assert policy.should_retry(Throttled("t"), 1)
    assert policy.should_retry(Throttled("t"), policy.attempts["throttled"] - 1)
    assert not policy.should_retry(Throttled("t"), policy.attempts["throttled"])
    assert policy.should_retry(ModelNotReady("n"), 1)
    assert policy.should_retry(ModelTimeout("t"), 1)
    assert policy.should_retry(ModelError("unreadable"), 1)
    assert policy.should_retry(map_client_error(client_error("InternalServerException")), 1)
    assert not policy.should_retry(InvalidRequest("bad"), 1)
    assert not policy.should_retry(ServiceUnavailable("store"), 1)  # not a model failure
    # not a TunegateError: an unmapped library error (e.g. a parser error) or a bug, a few times
    assert policy.should_retry(RuntimeError("?"), policy.attempts["internal_error"] - 1)
    assert not policy.should_retry(RuntimeError("?"), policy.attempts["internal_error"])
    assert not policy.should_retry(ModelError("gone", retryable=False), 1)


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "ResourceNotFoundException", "ValidationException"]
)
def test_bedrock_refusals_are_never_retryable(code: str) -> None:
    error = map_client_error(client_error(code))
    assert not error.retryable
    assert not EVALUATION.should_retry(error, 1)
    assert not invoke_policy(3).should_retry(error, 1)


def test_errors_say_whether_they_are_retryable_and_carry_retry_after() -> None:
    throttled = map_client_error(client_error("ThrottlingException"))
    assert throttled.retryable and throttled.retry_after == 2
    assert map_client_error(client_error("ModelNotReadyException")).retry_after == 30
    assert not InvalidRequest("x").retryable and not ModelError("x", retryable=False).retryable
    assert ModelError("x").retryable and ModelTimeout("x").retryable


def test_delays_are_jittered_below_an_exponential_cap() -> None:
    policy = RetryPolicy(first_delay={"throttled": 0.1}, max_delay=1.0)
    rng = random.Random(1)
    for failures, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay("throttled", failures, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed step
        assert len(set(delays)) > 150


def test_each_layer_gets_its_policy_and_botocore_follows_it() -> None:
    assert invoke_policy(3).max_attempts == 3
    assert ONE_ATTEMPT.max_attempts == 1  # botocore's total_max_attempts: test_aws_clients.py
    assert not ONE_ATTEMPT.should_retry(Throttled("t"), 1)


def test_no_stage_overrides_the_retry_policy_through_its_environment() -> None:
    config = (ROOT / ".chalice" / "config.json").read_text()
    assert "MODEL_MAX_ATTEMPTS" not in config


# --- counted at the emulator ------------------------------------------------------------------


@pytest.fixture()
def emulator_calls(local_stack: Any) -> Iterator[Any]:
    """The shared stack as every stage runs it: MODEL_MAX_ATTEMPTS is the default (3) and
    nothing tells the model clients to back off for the runner."""
    assert local_stack.env.get("MODEL_MAX_ATTEMPTS", "3") == "3"
    local_stack.emulator.reset()
    yield local_stack.emulator
    local_stack.emulator.reset()


def bedrock_deployment() -> Deployment:
    from emulator import REFERENCE_MODEL_ARN

    return Deployment.model_validate(
        {
            "name": "bedrock",
            "provider": "bedrock",
            "model_id": REFERENCE_MODEL_ARN,
            "request_format": "converse",
            "inference": {"max_tokens": 5},
            "output": LABELS,
        }
    )


def openai_deployment(emulator_url: str) -> Deployment:
    return Deployment.model_validate(
        {
            "name": "openai",
            "provider": "openai",
            "model_id": "echo",
            "request_format": "chat",
            "base_url": f"{emulator_url}/openai/v1",
            "api_key_env": "TEST_OPENAI_KEY",
            "inference": {"max_tokens": 5},
            "output": LABELS,
        }
    )


def items(n: int) -> list[Item]:
    records = [{"input": f"review {i}", "target": "positive"} for i in range(n)]
    return list(Dataset.from_records("inline", records).items())


def deployment_for(provider: str, emulator: Any) -> Deployment:
    return bedrock_deployment() if provider == "bedrock" else openai_deployment(emulator.url)


@pytest.mark.parametrize("provider", ["bedrock", "openai"])
def test_runner_throttled_item_makes_the_documented_attempts(
    emulator_calls: Any, provider: str
) -> None:
    emulator_calls.set_faults(throttle_rate=1.0)
    outcome = evaluate_chunk(
        items(2), [deployment_for(provider, emulator_calls)], concurrency=2, policy=NO_WAIT
    )
    per_item = EVALUATION.attempts["throttled"]
    assert [r.answers[0].attempts for r in outcome.results] == [per_item, per_item]
    assert emulator_calls.stats()["total"] == 2 * per_item  # not x MODEL_MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("provider", "entry"),
    [
        ("bedrock", {"error": "AccessDeniedException"}),
        ("bedrock", {"error": "ResourceNotFoundException"}),
        ("bedrock", {"error": "ValidationException"}),
        *[
            ("openai", {"raw_body": '{"error": {"message": "no"}}', "status": s})
            for s in (401, 403, 404, 422)
        ],
    ],
)
def test_runner_permanent_errors_are_attempted_once(
    emulator_calls: Any, provider: str, entry: dict[str, Any]
) -> None:
    emulator_calls.script([entry] * 3)
    outcome = evaluate_chunk(
        items(3), [deployment_for(provider, emulator_calls)], concurrency=1, policy=NO_WAIT
    )
    assert [r.answers[0].status for r in outcome.results] == ["error"] * 3
    assert [r.answers[0].attempts for r in outcome.results] == [1, 1, 1]
    assert emulator_calls.stats()["total"] == 3


@pytest.mark.parametrize("status", [408, 409])
def test_openai_408_and_409_are_retried(emulator_calls: Any, status: int) -> None:
    emulator_calls.script([{"raw_body": "{}", "status": status}])
    outcome = evaluate_chunk(
        items(1), [openai_deployment(emulator_calls.url)], concurrency=1, policy=NO_WAIT
    )
    assert outcome.results[0].answers[0].attempts == 2
    assert emulator_calls.stats()["total"] == 2


def invoke(client: Any, model: str) -> Any:
    return client.http.post(
        f"/v1/models/{model}/invoke",
        headers=auth_headers(),
        body=json.dumps({"input": "fine"}),
    )


@pytest.mark.parametrize("model", ["sentiment-converse", "echo-openai-chat"])
def test_invoke_throttled_makes_model_max_attempts(client: Any, emulator: Any, model: str) -> None:
    emulator.set_faults(throttle_rate=1.0)
    response = invoke(client, model)
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert emulator.stats()["total"] == 3


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("sentiment-converse", {"error": "AccessDeniedException"}),
        ("sentiment-converse", {"error": "ResourceNotFoundException"}),
        *[
            ("echo-openai-chat", {"raw_body": '{"error": {"message": "no"}}', "status": s})
            for s in OPENAI_REFUSALS
        ],
    ],
)
def test_invoke_permanent_errors_are_attempted_once(
    client: Any, emulator: Any, model: str, entry: dict[str, Any]
) -> None:
    emulator.script([entry] * 3)
    response = invoke(client, model)
    assert response.status_code == 502
    assert json.loads(response.body)["error"]["code"] == "model_error"
    assert emulator.stats()["total"] == 1
