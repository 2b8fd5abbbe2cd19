"""Least privilege: each function's inline policy allows model calls on exactly its registry's
models, the key hashes and secrets only where they are read, with no wildcard resource beyond
X-Ray's resourceless actions. (Every grant being used is tests/jobs/test_iam_usage.py.)"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.config.invocable import SERVED_KINDS
from chalicelib.config.registry import load_registry
from chalicelib.config.settings import settings_from_env
from chalicelib.config.stages import stage_environment
from chalicelib.deploy.iam import (
    FUNCTION_LOGICAL_IDS,
    PROVISIONING_ACTIONS,
    RESOURCELESS_ACTIONS,
    TUNING_JOB_ACTIONS,
    authorizer_policy,
    function_policies,
    model_arn,
    policy_file,
    secret_resource,
)
from tests.conftest import ROOT

ACCOUNTS = {"local": "000000000000", "dev": "123456789012", "prod": "123456789012"}


def problems(policy: dict[str, Any], registry_arns: set[str]) -> list[str]:
    found = []
    invokable: set[str] = set()
    for statement in policy["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if "*" in resources and not set(actions) <= RESOURCELESS_ACTIONS:
            found.append(f"wildcard resource for {actions}")
        if any(a.endswith(":*") or a == "*" for a in actions):
            found.append(f"wildcard action {actions}")
        if "bedrock:InvokeModel" in actions:
            invokable |= set(resources)
    found += [f"missing {arn}" for arn in sorted(registry_arns - invokable)]
    # Besides the registry's models: the served tuned models of the account in the region
    # (versions registered after the deploy), and nothing else.
    served = {a for a in invokable if a.rsplit(":", 1)[-1] in {f"{k}/*" for k in SERVED_KINDS}}
    found += [f"not in the registry: {arn}" for arn in sorted(invokable - registry_arns - served)]
    return found


def stage_inputs(stage: str) -> tuple[Any, Any, set[str]]:
    settings = settings_from_env(stage_environment(stage))
    registry = load_registry(settings.models_file)
    arns = {
        model_arn(d.model_id, "us-east-1") for d in registry.deployments if d.provider == "bedrock"
    }
    return settings, registry, arns


def policies(stage: str) -> dict[str, dict[str, Any]]:
    settings, registry, _ = stage_inputs(stage)
    return function_policies(registry, settings, account_id=ACCOUNTS[stage], region="us-east-1")


def actions(policy: dict[str, Any]) -> set[str]:
    return {a for statement in policy["Statement"] for a in statement["Action"]}


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_committed_policies_are_least_privilege_and_current(stage: str) -> None:
    _, _, arns = stage_inputs(stage)
    generated = policies(stage)
    assert set(generated) == (
        {"api", "worker", "tuning_events", "authorizer", "bearer_authorizer"}
        if stage != "local"
        else {"api", "worker", "tuning_events"}
    )
    for function, policy in generated.items():
        committed = json.loads((ROOT / ".chalice" / policy_file(stage, function)).read_text())
        assert committed == policy, f"regenerate: python -m chalicelib.cli --stage {stage} policy"
        calls_no_model = function in ("authorizer", "bearer_authorizer", "tuning_events")
        assert problems(committed, set() if calls_no_model else arns) == []


def test_config_gives_each_function_its_own_policy() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage, values in config["stages"].items():
        assert values["iam_policy_file"] == policy_file(stage, "api")
        functions = values["lambda_functions"]
        assert functions["evaluation_worker"]["iam_policy_file"] == policy_file(stage, "worker")
        events = functions["tuning_job_events"]["iam_policy_file"]
        assert events == policy_file(stage, "tuning_events")
        if "api_key_authorizer" in functions:
            authorizer = functions["api_key_authorizer"]["iam_policy_file"]
            assert authorizer == policy_file(stage, "authorizer")
        if "bearer_key_authorizer" in functions:
            bearer = functions["bearer_key_authorizer"]["iam_policy_file"]
            assert bearer == policy_file(stage, "bearer_authorizer")


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_only_the_functions_that_read_a_secret_may(stage: str) -> None:
    """The API checks keys and signs feedback tokens; the worker does neither. Storage is
    granted per role by the stack (infra/resources.json), never inline."""
    generated = policies(stage)
    outside_stack = {"bedrock:InvokeModel", *RESOURCELESS_ACTIONS}
    logs = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert actions(generated["api"]) == outside_stack | logs | set(PROVISIONING_ACTIONS) | set(
        TUNING_JOB_ACTIONS
    ) | {
        "ssm:GetParameter",
        "secretsmanager:GetSecretValue",
    }
    assert actions(generated["worker"]) == outside_stack | logs
    for function, policy in generated.items():
        [groups] = [s["Resource"] for s in policy["Statement"] if s["Sid"] == "Logs"]
        logical_id = FUNCTION_LOGICAL_IDS[function]
        assert groups == [
            f"arn:aws:logs:us-east-1:{ACCOUNTS[stage]}:log-group:"
            f"/aws/lambda/tunegate-{stage}-{logical_id}-*"
        ]


def test_the_check_catches_a_missing_arn_and_a_wildcard() -> None:
    _, _, arns = stage_inputs("dev")
    policy = policies("dev")["api"]
    missing = copy.deepcopy(policy)
    missing["Statement"][0]["Resource"] = []
    assert any(p.startswith("missing") for p in problems(missing, arns))
    wide = copy.deepcopy(policy)
    wide["Statement"][1]["Resource"] = "*"
    assert any(p.startswith("wildcard resource") for p in problems(wide, arns))


def test_model_and_secret_resources() -> None:
    assert model_arn("amazon.nova-lite-v1:0", "eu-west-1") == (
        "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0"
    )
    name_only = "arn:aws:secretsmanager:us-east-1:1:secret:tunegate/feedback"
    assert secret_resource(name_only) == name_only + "-??????"
    full = "arn:aws:secretsmanager:us-east-1:1:secret:tunegate/feedback-AbC123"
    assert secret_resource(full) == full


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_key_authorizer_reads_only_the_key_hashes(stage: str) -> None:
    """The authorizer function gets its own policy: no model, table, queue, bucket or secret."""
    settings, _, _ = stage_inputs(stage)
    assert settings.api_key_authorizer
    committed = json.loads((ROOT / ".chalice" / f"policy-{stage}-authorizer.json").read_text())
    generated = authorizer_policy(settings, account_id=ACCOUNTS[stage], region="us-east-1")
    assert committed == generated, f"regenerate: python -m chalicelib.cli --stage {stage} policy"
    assert actions(committed) == {
        "ssm:GetParameter",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *RESOURCELESS_ACTIONS,
    }
    [hashes] = [s["Resource"] for s in committed["Statement"] if s["Sid"] == "ApiKeyHashes"]
    assert hashes == [
        f"arn:aws:ssm:us-east-1:{ACCOUNTS[stage]}:parameter/tunegate/{stage}/api-key-hashes"
    ]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    function = config["stages"][stage]["lambda_functions"]["api_key_authorizer"]
    assert function["iam_policy_file"] == f"policy-{stage}-authorizer.json"


def test_served_models_and_provisioning_stay_in_the_account_and_region() -> None:
    """Versions are data: the invoke grant covers the account's provisioned models and custom
    model deployments in the region (not another account's, not another region's), and the
    provisioning actions reach only the account's custom and served models there."""
    api = policies("dev")["api"]
    by_sid = {s["Sid"]: s for s in api["Statement"]}
    prefix = "arn:aws:bedrock:us-east-1:123456789012"
    assert by_sid["InvokeServedModels"]["Resource"] == [
        f"{prefix}:custom-model-deployment/*",
        f"{prefix}:provisioned-model/*",
    ]
    assert by_sid["Provisioning"]["Resource"] == [
        f"{prefix}:custom-model-deployment/*",
        f"{prefix}:custom-model/*",
        f"{prefix}:provisioned-model/*",
    ]
    assert "Provisioning" not in {s["Sid"] for s in policies("dev")["worker"]["Statement"]}
