"""Create the stage's tables, queues and buckets on whatever endpoints boto3 is configured with.

Idempotent: existing resources are left alone. Used by `make run`, the tests and new stages.
"""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.settings import get_settings


def _ensure_table(name: str, key: str, ttl_attribute: str | None) -> str:
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
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


def bootstrap_resources() -> Iterator[str]:
    settings = get_settings()
    yield _ensure_table(settings.invocations_table, "invocation_id", "expires_at")
