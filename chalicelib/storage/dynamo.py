"""What every DynamoDB store shares: calls whose outage becomes a 503, conditional writes that
tell "already exists" from an outage, and UpdateItem expressions built from plain values.

Only the low-level client is used (see `codec`): no boto3 resource layer at cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import ServiceUnavailable
from chalicelib.storage.codec import to_attribute

T = TypeVar("T")
#: Codes a store reads as an answer ("the condition did not hold"), never as an outage.
CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELLED = "TransactionCanceledException"
RETRY_AFTER_SECONDS = 5


class AlreadyExists(Exception):
    """A create found its key taken. Every key we create is a fresh server-made id, so this is
    a bug, not a client error or an outage."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def call(operation: Callable[[], T], unavailable: str) -> T:
    """Run one DynamoDB call; an outage becomes ServiceUnavailable(`unavailable`) with a
    Retry-After (a 503 in the API, a retried message in the worker). A failed condition or a
    cancelled transaction is re-raised as is, for the store to read."""
    try:
        return operation()
    except ClientError as exc:
        if error_code(exc) in (CONDITION_FAILED, TRANSACTION_CANCELLED):
            raise
        raise ServiceUnavailable(unavailable, retry_after=RETRY_AFTER_SECONDS) from exc
    except BotoCoreError as exc:
        raise ServiceUnavailable(unavailable, retry_after=RETRY_AFTER_SECONDS) from exc


def put_new(table: str, item: dict[str, Any], key: str, unavailable: str) -> None:
    """Put `item` only if no item has its key (`key`: the partition key's name)."""
    try:
        call(
            lambda: aws.client("dynamodb").put_item(
                TableName=table,
                Item=item,
                # Aliased: a key may be a reserved word (e.g. `name`).
                ConditionExpression="attribute_not_exists(#key)",
                ExpressionAttributeNames={"#key": key},
            ),
            unavailable,
        )
    except ClientError as exc:  # only a failed condition gets here
        raise AlreadyExists(f"{table}: an item with this {key} exists") from exc


def update(request: dict[str, Any], unavailable: str) -> dict[str, Any] | None:
    """UpdateItem; None when its condition did not hold, else the reply."""
    try:
        reply: dict[str, Any] = call(
            lambda: aws.client("dynamodb").update_item(**request), unavailable
        )
    except ClientError as exc:
        if error_code(exc) == CONDITION_FAILED:
            return None
        raise
    return reply


def query_window(
    table: str,
    index: str,
    partition: tuple[str, str],
    sort_key: str,
    start: str | None,
    end: str | None,
    unavailable: str,
) -> Iterator[dict[str, Any]]:
    """Every item of an index partition whose sort key is within [start, end] (either bound
    optional), in sort-key order, page after page."""
    name, value = partition
    condition = "#p = :p"
    values: dict[str, Any] = {":p": {"S": value}}
    if start and end:
        condition += " AND #s BETWEEN :start AND :end"
    elif start:
        condition += " AND #s >= :start"
    elif end:
        condition += " AND #s <= :end"
    values |= {f":{k}": {"S": v} for k, v in (("start", start), ("end", end)) if v}
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {"#p": name, **({"#s": sort_key} if start or end else {})},
        "ExpressionAttributeValues": values,
    }
    while True:
        page = call(lambda: aws.client("dynamodb").query(**request), unavailable)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Update:
    """An UpdateItem expression built from plain values (every name goes through #aliases, so
    DynamoDB's reserved words never bite)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.sets: list[str] = []
        self.adds: list[str] = []
        self.removes: list[str] = []

    def name(self, attribute: str) -> str:
        alias = f"#{attribute}"
        self.names[alias] = attribute
        return alias

    def value(self, value: Any) -> str:
        alias = f":v{len(self.values)}"
        self.values[alias] = to_attribute(value)
        return alias

    def set(self, **values: Any) -> Update:
        """Set each attribute; a None value removes it (absent rather than NULL)."""
        for attribute, value in values.items():
            if value is None:
                self.removes.append(self.name(attribute))
            else:
                self.sets.append(f"{self.name(attribute)} = {self.value(value)}")
        return self

    def set_if_absent(self, **values: Any) -> Update:
        """Set each attribute only where the item has none yet (e.g. a creation time)."""
        for attribute, value in values.items():
            alias = self.name(attribute)
            self.sets.append(f"{alias} = if_not_exists({alias}, {self.value(value)})")
        return self

    def increment(self, **steps: int) -> Update:
        """Add `step` to each attribute, counting a missing one as 0, in a SET (so it can go in
        the same expression as the attribute's neighbours and be returned ALL_NEW)."""
        for attribute, step in steps.items():
            alias = self.name(attribute)
            zero, by = self.value(0), self.value(step)
            self.sets.append(f"{alias} = if_not_exists({alias}, {zero}) + {by}")
        return self

    def add(self, **values: int) -> Update:
        for attribute, value in values.items():
            self.adds.append(f"{self.name(attribute)} {self.value(value)}")
        return self

    def remove(self, *attributes: str) -> Update:
        self.removes.extend(self.name(a) for a in attributes)
        return self

    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def condition(self, text: str, **values: Any) -> str:
        """`text` with `#attr` names and `:name` placeholders filled from `values`."""
        for attribute in _names_in(text):
            self.name(attribute)
        for placeholder, value in values.items():
            self.values[f":{placeholder}"] = to_attribute(value)
        return text

    def request(
        self, table: str, key: Mapping[str, Any], condition: str | None = None
    ) -> dict[str, Any]:
        request = {
            "TableName": table,
            "Key": dict(key),
            "UpdateExpression": self.expression(),
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }
        if condition:
            request["ConditionExpression"] = condition
        return request


def _names_in(text: str) -> Iterator[str]:
    for token in text.replace("(", " ").replace(")", " ").replace(",", " ").split():
        if token.startswith("#"):
            yield token[1:]
