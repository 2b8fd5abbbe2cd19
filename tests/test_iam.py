"""Least privilege: each stage's policy allows model calls on exactly its registry's models and
storage on its own resources, with no wildcard resource beyond X-Ray's resourceless actions."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.iam import (
    RESOURCELESS_ACTIONS,
    authorizer_policy,
    model_arn,
    secret_resource,
    stage_policy,
)
from chalicelib.registry import load_registry
from chalicelib.settings import settings_from_env
from chalicelib.stages import stage_environment
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
    found += [f"not in the registry: {arn}" for arn in sorted(invokable - registry_arns)]
    return found


def stage_inputs(stage: str) -> tuple[Any, Any, set[str]]:
    settings = settings_from_env(stage_environment(stage))
    registry = load_registry(settings.models_file)
    arns = {
        model_arn(d.model_id, "us-east-1") for d in registry.deployments if d.provider == "bedrock"
    }
    return settings, registry, arns


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_committed_policy_is_least_privilege_and_current(stage: str) -> None:
    settings, registry, arns = stage_inputs(stage)
    committed = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    assert problems(committed, arns) == []
    generated = stage_policy(registry, settings, account_id=ACCOUNTS[stage], region="us-east-1")
    assert committed == generated, f"regenerate: python -m chalicelib.cli --stage {stage} policy"


def test_config_points_every_stage_at_its_policy() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["autogen_policy"] is False
    for stage, values in config["stages"].items():
        assert values["iam_policy_file"] == f"policy-{stage}.json"


def test_the_check_catches_a_missing_arn_and_a_wildcard() -> None:
    settings, registry, arns = stage_inputs("dev")
    policy = stage_policy(registry, settings, account_id="123456789012", region="us-east-1")
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
    actions = {a for statement in committed["Statement"] for a in statement["Action"]}
    assert actions == {
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
