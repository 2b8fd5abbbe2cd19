"""Create the stage's tables, queues and buckets on whatever endpoints boto3 is configured with.

Idempotent: existing resources are left alone, and the registry file seeds each of its names
as version 1 once (chalicelib/deployments/seed.py). Used by `make run`, the tests and new stages;
deployed stages get the same resources from `infra/resources.json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.config.settings import Settings, get_settings
from chalicelib.jobs.objects import retention_rule
from chalicelib.storage.feedback import MODEL_INDEX
from chalicelib.storage.invocations import MODEL_INDEX as INVOCATIONS_MODEL_INDEX
from chalicelib.storage.tuning import KIND_INDEX


def _key_schema(keys: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"AttributeName": key, "KeyType": "HASH" if i == 0 else "RANGE"}
        for i, key in enumerate(keys)
    ]


def ensure_table(
    name: str,
    keys: Sequence[str],
    *,
    ttl_attribute: str | None = None,
    indexes: dict[str, Sequence[str]] | None = None,
) -> str:
    """A PAY_PER_REQUEST table with string keys (hash, optional range) and optional GSIs."""
    dynamodb = aws.client("dynamodb")
    indexes = indexes or {}
    attributes = dict.fromkeys([*keys, *(k for ks in indexes.values() for k in ks)], "S")
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": t} for a, t in attributes.items()
        ],
        "KeySchema": _key_schema(keys),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": _key_schema(ks),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, ks in indexes.items()
        ]
    try:
        dynamodb.create_table(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        return f"table {name}: exists"
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    if ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
        )
    return f"table {name}: created"


def ensure_queue(name: str, visibility_timeout: int, max_receive_count: int = 5) -> str:
    """The queue and its dead-letter queue (`<name>-dlq`), with redrive after N receives."""
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    attributes = {"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": redrive}
    try:
        sqs.create_queue(QueueName=name, Attributes=attributes)
    except ClientError as exc:
        # It exists with other attributes (e.g. an older visibility timeout): bring them in line.
        if exc.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return f"queue {name} (+ {name}-dlq): updated"
    return f"queue {name} (+ {name}-dlq): ready"


def ensure_bucket(name: str, lifecycle_rules: Sequence[dict[str, Any]] = ()) -> str:
    """The private bucket; its lifecycle rules are (re)applied on every run, so a changed
    retention reaches an existing bucket too."""
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=name)
        state = "exists"
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise
        _create_bucket(name)
        state = "created"
    if lifecycle_rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": list(lifecycle_rules)}
        )
    return f"bucket {name}: {state}"


def _create_bucket(name: str) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def bootstrap_resources(settings: Settings | None = None) -> Iterator[str]:
    """Each resource's line (`created` or `exists`); `settings` default to the process's."""
    settings = settings or get_settings()
    yield ensure_table(
        settings.invocations_table,
        ["invocation_id"],
        ttl_attribute="expires_at",
        indexes={INVOCATIONS_MODEL_INDEX: ["model", "created_at"]},
    )
    yield ensure_table(
        settings.feedback_table,
        ["invocation_id"],
        indexes={MODEL_INDEX: ["model", "updated_at"]},
    )
    yield ensure_table(settings.evaluations_table, ["pk", "sk"], ttl_attribute="expires_at")
    yield ensure_table(settings.registry_table, ["name", "sk"])
    yield ensure_table(settings.provisioned_table, ["name"])
    yield ensure_table(settings.tuning_table, ["pk"], indexes={KIND_INDEX: ["kind", "created_at"]})
    jobs = settings.jobs
    yield ensure_queue(settings.evaluation_queue, visibility_timeout=jobs.queue_visibility_seconds)
    yield ensure_bucket(settings.results_bucket, [retention_rule(jobs.retention_days)])
    yield from seed_deployments(settings)


def seed_deployments(settings: Settings) -> Iterator[str]:
    """MODELS_FILE's entries as version 1 of each name not in the registry table yet."""
    from chalicelib.config.registry import load_registry
    from chalicelib.deployments.seed import seed_registry
    from chalicelib.storage.registry import DynamoRegistryStore

    store = DynamoRegistryStore(settings.registry_table)
    seeded = list(seed_registry(store, load_registry(settings.models_file), settings.models_file))
    yield from seeded or [f"deployments: {settings.registry_table} already seeded"]
