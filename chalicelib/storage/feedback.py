"""Feedback records in DynamoDB: one item per invocation, whatever the concurrency.

A post is first a conditional `PutItem` (only if no item exists): exactly one post per
invocation can win it and be answered "created", and it is the common case's only round trip.
A later post finds the item and replaces it with one `UpdateItem` that sets the new fields,
removes the ones it leaves out and bumps `revision`, keeping `created_at`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import ServiceUnavailable
from chalicelib.storage.codec import from_item, to_attribute, to_item

MODEL_INDEX = "model-updated_at-index"
_REPLACEABLE = ("rating", "thumbs", "comment", "correction", "correction_source")


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    invocation_id: str
    model: str
    updated_at: str
    rating: int | None = None
    thumbs: str | None = None
    comment: str | None = None
    correction: str | None = None
    # Where the correction came from: "public" (the token-authorised POST /v1/feedback, the
    # only route today). A record stored before sources were kept has None: public too.
    correction_source: str | None = None
    revision: int = 0
    created_at: str | None = None


def _unavailable(exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(
        "Feedback cannot be stored right now; try again shortly.", retry_after=5
    )


class DynamoFeedbackStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def upsert(self, record: FeedbackRecord) -> tuple[bool, FeedbackRecord]:
        """Store `record` as the invocation's only feedback: (True when it is the first, the
        record as stored, with its `revision` and `created_at`)."""
        first = replace(record, revision=1, created_at=record.updated_at)
        try:
            aws.client("dynamodb").put_item(
                TableName=self.table_name,
                Item=to_item(asdict(first)),
                ConditionExpression="attribute_not_exists(invocation_id)",
            )
            return True, first
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc
        return False, self._replace(record)

    def _replace(self, record: FeedbackRecord) -> FeedbackRecord:
        values = asdict(record)
        present = [f for f in _REPLACEABLE if values[f] is not None]
        absent = [f for f in _REPLACEABLE if values[f] is None]
        sets = ["#model = :model", "updated_at = :updated_at"]
        sets += [f"#{f} = :{f}" for f in present]
        sets += [
            "created_at = if_not_exists(created_at, :updated_at)",
            "revision = if_not_exists(revision, :zero) + :one",
        ]
        expression = "SET " + ", ".join(sets)
        if absent:
            expression += " REMOVE " + ", ".join(f"#{f}" for f in absent)
        names = {"#model": "model", **{f"#{f}": f for f in _REPLACEABLE}}
        attribute_values = {
            ":model": to_attribute(record.model),
            ":updated_at": to_attribute(record.updated_at),
            ":zero": to_attribute(0),
            ":one": to_attribute(1),
            **{f":{f}": to_attribute(values[f]) for f in present},
        }
        try:
            updated = aws.client("dynamodb").update_item(
                TableName=self.table_name,
                Key={"invocation_id": {"S": record.invocation_id}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
        stored = from_item(updated)
        return replace(record, revision=int(stored["revision"]), created_at=stored["created_at"])

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[FeedbackRecord]:
        """Every record of `model` updated within [start, end] (ISO 8601 UTC strings)."""
        condition = "#model = :model"
        values: dict[str, Any] = {":model": {"S": model}}
        if start and end:
            condition += " AND updated_at BETWEEN :start AND :end"
            values |= {":start": {"S": start}, ":end": {"S": end}}
        elif start:
            condition += " AND updated_at >= :start"
            values[":start"] = {"S": start}
        elif end:
            condition += " AND updated_at <= :end"
            values[":end"] = {"S": end}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": MODEL_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#model": "model"},
            "ExpressionAttributeValues": values,
        }
        try:
            while True:
                page = aws.client("dynamodb").query(**kwargs)
                for item in page.get("Items", []):
                    yield FeedbackRecord(**from_item(item))
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from exc
