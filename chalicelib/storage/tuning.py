"""The tuning store: tuning jobs and provisioned models (CONTRACT section 8), one table.

Each record is a plain JSON-able mapping (the API shows it almost as stored), keyed
`pk` = `<kind>#<key>` (`job#<tuning job id>`, `provisioned#<name>`) and carrying `kind` and
`created_at`, so the `kind-created_at` index lists one kind newest first. Changes are
conditional on the record's `status` where the caller says so: a late provider event or a
second reader never moves a finished job back.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, TypeVar

from chalicelib import aws
from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_item
from chalicelib.storage.dynamo import AlreadyExists, Update

Kind = Literal["job", "provisioned"]
KIND_INDEX = "kind-created_at-index"
UNAVAILABLE = "Tuning records cannot be reached right now; try again shortly."
#: Fields the store owns (never part of what a caller sets).
_KEYS = ("pk", "kind")
T = TypeVar("T")


class TuningStore(Protocol):
    """Records by kind and key; `None` answers "absent" or "the status condition did not
    hold", an outage raises ServiceUnavailable."""

    def create(self, kind: Kind, key: str, record: Mapping[str, Any]) -> None:
        """Raises AlreadyExists when the key is taken. `record` needs `created_at`."""

    def get(self, kind: Kind, key: str) -> dict[str, Any] | None: ...

    def update(
        self,
        kind: Kind,
        key: str,
        sets: Mapping[str, Any],
        *,
        expect: tuple[str, ...] = (),
    ) -> dict[str, Any] | None:
        """Set `sets` (None removes) while `status` is one of `expect` (any when empty);
        the record after the change, or None."""

    def list(self, kind: Kind, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""

    def delete(self, kind: Kind, key: str) -> None: ...


def pk(kind: Kind, key: str) -> str:
    return f"{kind}#{key}"


def _public(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _KEYS}


class DynamoTuningStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def _call(self, call: Callable[[], T]) -> T:
        return dynamo.call(call, UNAVAILABLE)

    def create(self, kind: Kind, key: str, record: Mapping[str, Any]) -> None:
        item = to_item({**record, "pk": pk(kind, key), "kind": kind})
        dynamo.put_new(self.table, item, "pk", UNAVAILABLE)

    def get(self, kind: Kind, key: str) -> dict[str, Any] | None:
        reply = self._call(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table, Key={"pk": {"S": pk(kind, key)}}, ConsistentRead=True
            )
        )
        item = reply.get("Item")
        return _public(from_item(item)) if item else None

    def update(
        self,
        kind: Kind,
        key: str,
        sets: Mapping[str, Any],
        *,
        expect: tuple[str, ...] = (),
    ) -> dict[str, Any] | None:
        update = Update().set(**{k: v for k, v in sets.items() if k not in _KEYS})
        condition = "attribute_exists(pk)"
        if expect:
            wanted = ", ".join(f":s{i}" for i in range(len(expect)))
            condition = update.condition(
                f"attribute_exists(pk) AND #status IN ({wanted})",
                **{f"s{i}": s for i, s in enumerate(expect)},
            )
        request = update.request(self.table, {"pk": {"S": pk(kind, key)}}, condition)
        request["ReturnValues"] = "ALL_NEW"
        if not request["ExpressionAttributeValues"]:
            del request["ExpressionAttributeValues"]
        reply = dynamo.update(request, UNAVAILABLE)
        return None if reply is None else _public(from_item(reply["Attributes"]))

    def list(self, kind: Kind, limit: int = 100) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": KIND_INDEX,
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": {"#k": "kind"},
            "ExpressionAttributeValues": {":k": {"S": kind}},
            "ScanIndexForward": False,
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            request["Limit"] = limit - len(found)
            page = self._call(lambda: aws.client("dynamodb").query(**request))
            found += [_public(from_item(item)) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def delete(self, kind: Kind, key: str) -> None:
        self._call(
            lambda: aws.client("dynamodb").delete_item(
                TableName=self.table, Key={"pk": {"S": pk(kind, key)}}
            )
        )


class MemoryTuningStore:
    """The same semantics in a dict (fast tests)."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def create(self, kind: Kind, key: str, record: Mapping[str, Any]) -> None:
        with self._lock:
            if pk(kind, key) in self._items:
                raise AlreadyExists(f"tuning: an item with key {pk(kind, key)} exists")
            stored = {k: v for k, v in copy.deepcopy(dict(record)).items() if v is not None}
            self._items[pk(kind, key)] = {**stored, "kind": kind}

    def get(self, kind: Kind, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(pk(kind, key))
            return _public(copy.deepcopy(item)) if item else None

    def update(
        self,
        kind: Kind,
        key: str,
        sets: Mapping[str, Any],
        *,
        expect: tuple[str, ...] = (),
    ) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(pk(kind, key))
            if item is None or (expect and item.get("status") not in expect):
                return None
            for name, value in copy.deepcopy(dict(sets)).items():
                if name in _KEYS:
                    continue
                if value is None:
                    item.pop(name, None)
                else:
                    item[name] = value
            return _public(copy.deepcopy(item))

    def list(self, kind: Kind, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            items = [i for i in self._items.values() if i["kind"] == kind]
        items.sort(key=lambda i: str(i.get("created_at", "")), reverse=True)
        return [_public(copy.deepcopy(i)) for i in items[:limit]]

    def delete(self, kind: Kind, key: str) -> None:
        with self._lock:
            self._items.pop(pk(kind, key), None)
