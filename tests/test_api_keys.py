"""API keys for deployed stages: created by the CLI, only hashes stored in SSM (moto), checked
through the same Powertools parameter path the deployed app uses."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from typing import Any

import boto3
import pytest

from chalicelib.auth.keys import require_api_key
from chalicelib.auth.scopes import Scope
from chalicelib.config.settings import settings_from_env
from chalicelib.errors import Forbidden, Unauthorized
from tests.conftest import ROOT

PARAMETER = "/tunegate/test/api-key-hashes"


def run_key_command(
    command: str, *extra: str, parameter: str = PARAMETER
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "API_KEY_HASHES_PARAMETER": parameter}
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "--stage", "dev", command, *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_create_key(*extra: str, parameter: str = PARAMETER) -> subprocess.CompletedProcess[str]:
    return run_key_command("create-api-key", *extra, parameter=parameter)


def printed_key(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"API key \(shown once, not stored\): (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def create_key(*extra: str) -> str:
    return printed_key(run_create_key(*extra))


def test_keys_are_stored_only_as_hashes_and_accepted(local_stack: Any) -> None:
    first, second = create_key(), create_key()
    assert first != second and first.startswith("tg_") and len(first) > 40
    stored = boto3.client("ssm").get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString"
    assert first not in stored["Value"] and second not in stored["Value"]
    assert stored["Value"].split(",") == [
        hashlib.sha256(k.encode()).hexdigest() for k in (first, second)
    ]
    settings = settings_from_env(
        {
            "MODELS_FILE": "chalicelib/registries/local.json",
            "API_KEY_HASHES_PARAMETER": PARAMETER,
            "FEEDBACK_TOKEN_SECRET": "s",
        }
    )
    require_api_key(first, settings, "admin")
    require_api_key(second, settings, "invoke")
    with pytest.raises(Unauthorized):
        require_api_key(first + "x", settings, "evaluate")


def test_a_key_made_with_scopes_is_stored_and_checked_with_them(local_stack: Any) -> None:
    parameter = "/tunegate/test/scoped-hashes"
    everything = create_key_at(parameter)
    result = run_create_key("--scopes", "evaluate, invoke", parameter=parameter)
    scoped = printed_key(result)
    digest = hashlib.sha256(scoped.encode()).hexdigest()
    assert f"{digest}:invoke+evaluate" in result.stdout
    stored = boto3.client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]
    assert stored["Value"].split(",") == [
        hashlib.sha256(everything.encode()).hexdigest(),
        f"{digest}:invoke+evaluate",
    ]
    assert accepts(parameter, scoped, "invoke") and accepts(parameter, scoped, "evaluate")
    with pytest.raises(Forbidden):
        accepts(parameter, scoped, "admin")
    assert accepts(parameter, everything, "admin")

    revoked = run_revoke("--key-hash", f"{digest}:invoke+evaluate", parameter=parameter)
    assert revoked.returncode == 0, revoked.stderr
    assert not accepts(parameter, scoped, "invoke") and accepts(parameter, everything, "invoke")


@pytest.mark.parametrize("scopes", ["deploy", "invoke,", ""])
def test_an_unknown_scope_is_refused_before_anything_is_made(local_stack: Any, scopes: str) -> None:
    parameter = "/tunegate/test/refused-scopes"
    result = run_create_key("--scopes", scopes, parameter=parameter)
    assert result.returncode == 2 and "unknown scope" in result.stderr
    assert "shown once" not in result.stdout
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        boto3.client("ssm").get_parameter(Name=parameter)


def create_key_at(parameter: str) -> str:
    return printed_key(run_create_key(parameter=parameter))


def test_a_key_joins_the_usage_plan_as_its_hash(local_stack: Any) -> None:
    """Per-key throttling: the gateway knows the key only by its SHA-256 (gateway_auth.py)."""
    apigateway = boto3.client("apigateway")
    plan = apigateway.create_usage_plan(
        name="tunegate-dev-api-keys", throttle={"rateLimit": 10, "burstLimit": 20}
    )
    key = create_key("--usage-plan-id", plan["id"])
    digest = hashlib.sha256(key.encode()).hexdigest()
    in_plan = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert [k["value"] for k in in_plan] == [digest]
    values = [k["value"] for k in apigateway.get_api_keys(includeValues=True)["items"]]
    assert digest in values and key not in values
    stored = boto3.client("ssm").get_parameter(Name=PARAMETER, WithDecryption=True)["Parameter"]
    assert digest in stored["Value"].split(",")


def test_a_key_whose_hash_cannot_be_stored_leaves_no_gateway_key(local_stack: Any) -> None:
    apigateway = boto3.client("apigateway")
    plan = apigateway.create_usage_plan(name="tunegate-dev-broken")
    before = {k["id"] for k in apigateway.get_api_keys()["items"]}
    # SSM refuses parameter names under the reserved /aws prefix.
    result = run_create_key("--usage-plan-id", plan["id"], parameter="/aws/tunegate/hashes")
    assert result.returncode != 0
    assert "shown once" not in result.stdout
    assert {k["id"] for k in apigateway.get_api_keys()["items"]} == before
    assert apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []


def run_revoke(*args: str, parameter: str) -> subprocess.CompletedProcess[str]:
    return run_key_command("revoke-api-key", *args, parameter=parameter)


def accepts(parameter: str, key: str, scope: Scope = "invoke") -> bool:
    """The deployed app's check, read fresh (Powertools caches parameters per process)."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    settings = settings_from_env(
        {
            "MODELS_FILE": "chalicelib/registries/local.json",
            "API_KEY_HASHES_PARAMETER": parameter,
            "FEEDBACK_TOKEN_SECRET": "s",
        }
    )
    try:
        require_api_key(key, settings, scope)
    except Unauthorized:
        return False
    return True


def test_a_revoked_key_is_gone_from_ssm_and_the_usage_plan(local_stack: Any) -> None:
    parameter = "/tunegate/test/revoke-hashes"
    apigateway = boto3.client("apigateway")
    plan = apigateway.create_usage_plan(name="tunegate-dev-revoke")
    keys = []
    for _ in range(2):
        result = run_create_key("--usage-plan-id", plan["id"], parameter=parameter)
        keys.append(printed_key(result))
        assert hashlib.sha256(keys[-1].encode()).hexdigest() in result.stdout
    first, second = keys
    assert accepts(parameter, first) and accepts(parameter, second)

    revoked = run_revoke("--key", first, parameter=parameter)
    assert revoked.returncode == 0, revoked.stderr
    assert "hash removed" in revoked.stdout and "API Gateway keys deleted: 1" in revoked.stdout
    assert not accepts(parameter, first) and accepts(parameter, second)
    values = [k["value"] for k in apigateway.get_api_keys(includeValues=True)["items"]]
    assert hashlib.sha256(first.encode()).hexdigest() not in values
    assert hashlib.sha256(second.encode()).hexdigest() in values

    # Revoking again changes nothing and says so; revoking the last key leaves no valid key.
    assert run_revoke("--key", first, parameter=parameter).returncode == 1
    digest = hashlib.sha256(second.encode()).hexdigest()
    assert run_revoke("--key-hash", digest.upper(), parameter=parameter).returncode == 0
    assert not accepts(parameter, second)
    assert run_revoke("--key-hash", "not-a-digest", parameter=parameter).returncode == 2
