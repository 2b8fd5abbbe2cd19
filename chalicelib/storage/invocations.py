"""Where invocations are recorded: DynamoDB in the cloud and locally (moto), memory in unit tests.

One item per invocation, written with a single conditional put, so nothing is ever half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from chalicelib import aws
from chalicelib.errors import NotFound
from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_item
from chalicelib.storage.dynamo import AlreadyExists

MODEL_INDEX = "model-created_at-index"
_UNRECORDED = "The invocation could not be recorded; try again shortly."
_UNREADABLE = "Invocations cannot be read right now."


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    invocation_id: str
    model: str
    created_at: str
    latency_ms: float
    model_latency_ms: float
    status: str  # ok | invalid | error
    input_sha256: str
    prediction: str | float | None = None
    error_code: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Only when the deployment has store_inputs: the text needed to turn feedback into data.
    input: dict[str, Any] | None = None
    output: str | None = None
    expires_at: int | None = None
    #: The alias's version that answered (None: recorded before versions existed).
    version: int | None = None
    #: Shadow copies only: the invocation this one shadowed (its output is never returned).
    shadow_of: str | None = None


class InvocationStore(Protocol):
    def put(self, record: InvocationRecord) -> None:
        """Record a new invocation; AlreadyExists if its id is taken (ids are fresh UUIDs)."""

    def get(self, invocation_id: str) -> InvocationRecord: ...

    def get_many(self, invocation_ids: list[str]) -> dict[str, InvocationRecord]: ...

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[InvocationRecord]:
        """Every record of the alias `model` created within [start, end] (ISO 8601 UTC
        strings, either optional), in `created_at` order, read page by page (compare)."""


class MemoryInvocationStore:
    def __init__(self) -> None:
        self._items: dict[str, InvocationRecord] = {}
        self._lock = threading.Lock()

    def put(self, record: InvocationRecord) -> None:
        with self._lock:
            if record.invocation_id in self._items:
                raise AlreadyExists(f"invocation {record.invocation_id} exists")
            self._items[record.invocation_id] = record

    def get(self, invocation_id: str) -> InvocationRecord:
        with self._lock:
            if invocation_id not in self._items:
                raise NotFound(f"No invocation {invocation_id!r}.")
            return self._items[invocation_id]

    def get_many(self, invocation_ids: list[str]) -> dict[str, InvocationRecord]:
        with self._lock:
            return {i: self._items[i] for i in invocation_ids if i in self._items}

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[InvocationRecord]:
        with self._lock:
            found = [
                r
                for r in self._items.values()
                if r.model == model
                and (start is None or r.created_at >= start)
                and (end is None or r.created_at <= end)
            ]
        yield from sorted(found, key=lambda r: r.created_at)


class DynamoInvocationStore:
    """Invocations keyed by `invocation_id`; `expires_at` is the table's TTL attribute."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def put(self, record: InvocationRecord) -> None:
        item = to_item(asdict(record))
        dynamo.put_new(self.table_name, item, "invocation_id", _UNRECORDED)

    def get(self, invocation_id: str) -> InvocationRecord:
        response = dynamo.call(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table_name,
                Key={"invocation_id": {"S": invocation_id}},
                ConsistentRead=True,
            ),
            _UNREADABLE,
        )
        if "Item" not in response:
            raise NotFound(f"No invocation {invocation_id!r}.")
        return InvocationRecord(**from_item(response["Item"]))

    def get_many(self, invocation_ids: list[str]) -> dict[str, InvocationRecord]:
        """Records by id (missing ones absent), in batches of 100 with unprocessed keys retried."""
        found: dict[str, InvocationRecord] = {}
        unique = list(dict.fromkeys(invocation_ids))
        for start in range(0, len(unique), 100):
            keys = [{"invocation_id": {"S": i}} for i in unique[start : start + 100]]
            request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = _batch_get(request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    record = InvocationRecord(**from_item(item))
                    found[record.invocation_id] = record
                request = response.get("UnprocessedKeys") or {}
        return found

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[InvocationRecord]:
        """A query of the `model` + `created_at` index (projection ALL), page by page."""
        window = (self.table_name, MODEL_INDEX, ("model", model), "created_at", start, end)
        for item in dynamo.query_window(*window, _UNREADABLE):
            yield InvocationRecord(**from_item(item))


def _batch_get(request: dict[str, Any]) -> Any:
    return dynamo.call(
        lambda: aws.client("dynamodb").batch_get_item(RequestItems=request), _UNREADABLE
    )
