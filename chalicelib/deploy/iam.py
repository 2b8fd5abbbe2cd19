"""Least-privilege IAM, one role per function, derived from the stage's registry and settings.

`python -m chalicelib.cli --stage dev policy --account-id N --region R` writes the inline policy
of each function: `.chalice/policy-dev.json` (the API), `policy-dev-worker.json` (the
evaluation worker) and, with the gateway's key authorizer, `policy-dev-authorizer.json`; each
function names its file in `.chalice/config.json`. They grant what is outside the stack: model
invocation only on the registry's models, the key-hash parameter and secrets only to the
functions that read them, logs and X-Ray. The stack's own tables, queue and bucket are granted
per role by exact ARN in `infra/resources.json` (ApiResourcesPolicy, WorkerResourcesPolicy).
tests/jobs/test_iam_usage.py runs each function against the local stack and checks that every
grant is used and every call granted.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.config.invocable import model_arn, served_arns
from chalicelib.config.registry import Registry
from chalicelib.config.settings import Settings

#: Each function's resource name in the packaged template (Chalice names them).
FUNCTION_LOGICAL_IDS = {
    "api": "APIHandler",
    "worker": "EvaluationWorker",
    "authorizer": "ApiKeyAuthorizer",
    "bearer_authorizer": "BearerKeyAuthorizer",
    "tuning_events": "TuningJobEvents",
}
#: Actions AWS defines only on "*" (no resource-level permissions).
RESOURCELESS_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


#: The Bedrock control-plane actions `provisioning` calls (and nothing else of Bedrock's).
PROVISIONING_ACTIONS = (
    "bedrock:GetCustomModel",
    "bedrock:CreateProvisionedModelThroughput",
    "bedrock:GetProvisionedModelThroughput",
    "bedrock:DeleteProvisionedModelThroughput",
    "bedrock:CreateCustomModelDeployment",
    "bedrock:GetCustomModelDeployment",
    "bedrock:DeleteCustomModelDeployment",
)


class _Statements:
    """Allow statements of one policy; an empty resource list adds nothing."""

    def __init__(self) -> None:
        self.statements: list[dict[str, Any]] = []

    def allow(self, sid: str, actions: list[str], resources: list[str]) -> None:
        if resources:
            self.statements.append(
                {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": sorted(resources)}
            )

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": self.statements}


def policy_file(stage: str, function: str) -> str:
    """The file name under .chalice/: the API's is the stage's default (`iam_policy_file`),
    the others are named per function in config.json's `lambda_functions`."""
    return f"policy-{stage}.json" if function == "api" else f"policy-{stage}-{function}.json"


def function_policies(
    registry: Registry, settings: Settings, *, account_id: str, region: str
) -> dict[str, dict[str, Any]]:
    """The inline policy of each function: `api`, `worker`, and, when the stage has the gateway's
    key authorizers, `authorizer` (x-api-key) and `bearer_authorizer` (the OpenAI-compatible
    routes' `Authorization: Bearer`): the same grants, each role writing only its own logs."""
    where = {"account_id": account_id, "region": region}
    policies = {
        "api": api_policy(registry, settings, **where),
        "worker": worker_policy(registry, settings, **where),
        "tuning_events": tuning_events_policy(settings, **where),
    }
    if settings.api_key_authorizer:
        policies["authorizer"] = authorizer_policy(settings, **where)
        policies["bearer_authorizer"] = authorizer_policy(
            settings, function="bearer_authorizer", **where
        )
    return policies


def api_policy(
    registry: Registry, settings: Settings, *, account_id: str, region: str
) -> dict[str, Any]:
    """Invoke calls the models; the key check reads the key hashes; feedback tokens need their
    key; OpenAI-compatible deployments their API keys."""
    policy = _Statements()
    _models(policy, registry, region, account_id)
    _provisioning(policy, region, account_id)
    _tuning_jobs(policy, account_id=account_id, region=region)
    _key_hashes(policy, settings, account_id=account_id, region=region)
    secrets = _provider_secrets(registry, settings)
    if settings.feedback_token_secret_arn:
        secrets.add(settings.feedback_token_secret_arn)
    _secrets(policy, secrets)
    _logs_and_tracing(policy, settings, "api", account_id=account_id, region=region)
    return policy.document()


def worker_policy(
    registry: Registry, settings: Settings, *, account_id: str, region: str
) -> dict[str, Any]:
    """Evaluation calls the models (and their providers' keys), nothing else outside the stack:
    no key hashes, no feedback-token key."""
    policy = _Statements()
    _models(policy, registry, region, account_id)
    _secrets(policy, _provider_secrets(registry, settings))
    _logs_and_tracing(policy, settings, "worker", account_id=account_id, region=region)
    return policy.document()


def tuning_events_policy(settings: Settings, *, account_id: str, region: str) -> dict[str, Any]:
    """Bedrock's job state-change events: read the job named (its records and metrics files
    are the stack's grants, TuningEventsResourcesPolicy), nothing else."""
    policy = _Statements()
    own = f"arn:aws:bedrock:{region}:{account_id}"
    policy.allow(
        "ReadTuningJobs", ["bedrock:GetModelCustomizationJob"], [f"{own}:model-customization-job/*"]
    )
    _logs_and_tracing(policy, settings, "tuning_events", account_id=account_id, region=region)
    return policy.document()


def authorizer_policy(
    settings: Settings, *, account_id: str, region: str, function: str = "authorizer"
) -> dict[str, Any]:
    """A key authorizer (chalicelib/auth/authorizer.py): the key hashes, its logs, X-Ray."""
    policy = _Statements()
    _key_hashes(policy, settings, account_id=account_id, region=region)
    _logs_and_tracing(policy, settings, function, account_id=account_id, region=region)
    return policy.document()


def _models(policy: _Statements, registry: Registry, region: str, account_id: str) -> None:
    """The registry file's models by ARN, and every provisioned model and custom model
    deployment of the account in the region: versions are data (`register` adds them after
    the deploy), so their ARNs cannot be listed here; version creation refuses any other
    Bedrock model (chalicelib/config/invocable.py)."""
    # Converse is authorised as bedrock:InvokeModel.
    bedrock = {
        model_arn(d.model_id, region) for d in registry.deployments if d.provider == "bedrock"
    }
    policy.allow("InvokeRegistryModels", ["bedrock:InvokeModel"], list(bedrock))
    policy.allow("InvokeServedModels", ["bedrock:InvokeModel"], served_arns(region, account_id))


#: The control-plane calls of the tuning routes (chalicelib/tuning/bedrock_jobs.py).
TUNING_JOB_ACTIONS = [
    "bedrock:CreateModelCustomizationJob",
    "bedrock:GetModelCustomizationJob",
    "bedrock:StopModelCustomizationJob",
]


def _tuning_jobs(policy: _Statements, *, account_id: str, region: str) -> None:
    """Customization jobs in the stage's account and region. Bedrock names jobs and custom
    models by random ids, so the ARNs cannot carry the stage's prefix; creating one also needs
    its base model (any foundation model, or one of the account's custom models) and passing
    the customization role, which the stack grants (infra/resources.json)."""
    own = f"arn:aws:bedrock:{region}:{account_id}"
    policy.allow(
        "TuningJobs",
        TUNING_JOB_ACTIONS,
        [
            f"{own}:model-customization-job/*",
            f"{own}:custom-model/*",
            f"arn:aws:bedrock:{region}::foundation-model/*",
        ],
    )


def _provisioning(policy: _Statements, region: str, account_id: str) -> None:
    """Provision and deprovision custom models of the account in the region (the `admin`
    routes of chalicelib/provisioning): read the custom model, create, read and delete its
    Provisioned Throughput or on-demand deployment; no other control-plane action."""
    prefix = f"arn:aws:bedrock:{region}:{account_id}"
    resources = [f"{prefix}:custom-model/*", *served_arns(region, account_id)]
    policy.allow("Provisioning", list(PROVISIONING_ACTIONS), resources)


def _provider_secrets(registry: Registry, settings: Settings) -> set[str]:
    """Keys of the OpenAI-compatible deployments, and of the OpenAI fine-tuning API (read to
    find a fine-tuned model's data; registered versions call it with the same key)."""
    found = {d.api_key_secret_arn for d in registry.deployments if d.api_key_secret_arn}
    if settings.tuning_openai_api_key_secret_arn:
        found.add(settings.tuning_openai_api_key_secret_arn)
    return found


def _secrets(policy: _Statements, arns: set[str]) -> None:
    resources = [secret_resource(arn) for arn in arns]
    policy.allow("Secrets", ["secretsmanager:GetSecretValue"], resources)


def _key_hashes(policy: _Statements, settings: Settings, *, account_id: str, region: str) -> None:
    if settings.api_key_hashes_parameter:
        name = settings.api_key_hashes_parameter.lstrip("/")
        parameter = f"arn:aws:ssm:{region}:{account_id}:parameter/{name}"
        policy.allow("ApiKeyHashes", ["ssm:GetParameter"], [parameter])


def _logs_and_tracing(
    policy: _Statements, settings: Settings, function: str, *, account_id: str, region: str
) -> None:
    # CloudFormation names a function `<stack>-<logical id>-<suffix>` (the template sets no
    # FunctionName), and the stack is `tunegate-<stage>`: each role writes only its own logs.
    group = f"/aws/lambda/tunegate-{settings.stage}-{FUNCTION_LOGICAL_IDS[function]}-*"
    policy.allow(
        "Logs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [f"arn:aws:logs:{region}:{account_id}:log-group:{group}"],
    )
    tracing = sorted(RESOURCELESS_ACTIONS)
    policy.statements.append(
        {"Sid": "Tracing", "Effect": "Allow", "Action": tracing, "Resource": "*"}
    )


def secret_resource(arn: str) -> str:
    """Secrets Manager ends every ARN with `-` and 6 random characters; a configured ARN
    without them (a secret's name) matches exactly that suffix, nothing wider."""
    if re.search(r"-[A-Za-z0-9]{6}$", arn.rsplit(":", 1)[-1]):
        return arn
    return f"{arn}-??????"
