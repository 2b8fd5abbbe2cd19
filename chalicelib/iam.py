"""Least-privilege IAM for a stage, derived from its registry and resource names.

`python -m chalicelib.cli --stage dev policy --account-id N --region R` writes
`.chalice/policy-dev.json`: model invocation only on the registry's models, storage actions only
on the stage's own table, queue, bucket, parameter and secrets. The one wildcard is X-Ray, whose
write actions have no resource-level permissions. A stage with the gateway's key authorizer also
gets `.chalice/policy-dev-authorizer.json`: that function reads the key hashes, nothing else.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.feedback_store import MODEL_INDEX
from chalicelib.registry import Registry
from chalicelib.settings import Settings

_TABLE_READ_WRITE = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:Query",
]
#: Actions AWS defines only on "*" (no resource-level permissions).
RESOURCELESS_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def model_arn(model_id: str, region: str) -> str:
    """An ARN as IAM sees it: ARNs unchanged, bare model ids as foundation-model ARNs."""
    if model_id.startswith("arn:"):
        return model_id
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


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


def stage_policy(
    registry: Registry, settings: Settings, *, account_id: str, region: str
) -> dict[str, Any]:
    prefix = f"arn:aws:dynamodb:{region}:{account_id}:table"
    policy = _Statements()
    allow = policy.allow
    bedrock = {
        model_arn(d.model_id, region) for d in registry.deployments if d.provider == "bedrock"
    }
    allow("InvokeRegistryModels", ["bedrock:InvokeModel"], list(bedrock))
    tables = [settings.invocations_table, settings.feedback_table, settings.evaluations_table]
    allow("StageTables", _TABLE_READ_WRITE, [f"{prefix}/{t}" for t in tables])
    allow(
        "FeedbackByModel",
        ["dynamodb:Query"],
        [f"{prefix}/{settings.feedback_table}/index/{MODEL_INDEX}"],
    )
    allow(
        "EvaluationQueue",
        [
            "sqs:SendMessage",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        ],
        [f"arn:aws:sqs:{region}:{account_id}:{settings.evaluation_queue}"],
    )
    bucket = f"arn:aws:s3:::{settings.results_bucket}"
    allow("ResultsObjects", ["s3:GetObject", "s3:PutObject"], [f"{bucket}/*"])
    allow("ResultsBucket", ["s3:ListBucket"], [bucket])
    # A chunk attempt that lost its commit deletes its own results object (jobs/worker.py).
    allow("DiscardChunkResults", ["s3:DeleteObject"], [f"{bucket}/evaluations/*/chunks/*"])
    _key_hashes(policy, settings, account_id=account_id, region=region)
    secrets = {d.api_key_secret_arn for d in registry.deployments if d.api_key_secret_arn}
    if settings.feedback_token_secret_arn:
        secrets.add(settings.feedback_token_secret_arn)
    allow("Secrets", ["secretsmanager:GetSecretValue"], [secret_resource(arn) for arn in secrets])
    _logs_and_tracing(policy, settings, account_id=account_id, region=region)
    return policy.document()


def authorizer_policy(settings: Settings, *, account_id: str, region: str) -> dict[str, Any]:
    """The API key authorizer (chalicelib/gateway_auth.py): the key hashes, its logs, X-Ray."""
    policy = _Statements()
    _key_hashes(policy, settings, account_id=account_id, region=region)
    _logs_and_tracing(policy, settings, account_id=account_id, region=region)
    return policy.document()


def _key_hashes(policy: _Statements, settings: Settings, *, account_id: str, region: str) -> None:
    if settings.api_key_hashes_parameter:
        name = settings.api_key_hashes_parameter.lstrip("/")
        parameter = f"arn:aws:ssm:{region}:{account_id}:parameter/{name}"
        policy.allow("ApiKeyHashes", ["ssm:GetParameter"], [parameter])


def _logs_and_tracing(
    policy: _Statements, settings: Settings, *, account_id: str, region: str
) -> None:
    policy.allow(
        "Logs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [f"arn:aws:logs:{region}:{account_id}:log-group:/aws/lambda/tunegate-{settings.stage}-*"],
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
