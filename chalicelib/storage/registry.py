"""The deployments registry: immutable versions, aliases with routing, and routing history.

One DynamoDB table, partition key `name` (the alias), sort key `sk`:
- `v#0000000003`: version 3, immutable except for `status` (`active` | `retired`);
- `alias`: `routes` [{version, weight}], `shadow` [versions], `revision` (optimistic
  concurrency), `latest_version` (the last number handed out: numbers are never reused);
- `h#0000000007`: the routing change that made revision 7 (from, to, reason, caller).

Every write is one transaction with conditions, so two concurrent creates never get the same
version number and two routing changes from the same revision never both win: the loser gets
`Conflict` (409). `snapshot()` reads every alias and version in one scan: it is what the
per-process cache (chalicelib/deployments/cache.py) holds. `MemoryRegistryStore` keeps the same
rules for fast tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import Conflict, NotFound, ServiceUnavailable
from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_attribute, to_item

UNAVAILABLE = "The deployments registry cannot be reached right now; try again shortly."
ALIAS_SK = "alias"
#: How often a version create re-reads the alias after losing a race for the next number.
CREATE_ATTEMPTS = 20


def version_sk(version: int) -> str:
    return f"v#{version:010d}"


def history_sk(revision: int) -> str:
    return f"h#{revision:010d}"


@dataclass(frozen=True, slots=True)
class VersionRecord:
    name: str
    version: int
    #: The registry entry's fields (config.registry.Deployment) without `name`.
    spec: dict[str, Any]
    created_at: str
    source: dict[str, Any] = field(default_factory=dict)
    status: str = "active"


@dataclass(frozen=True, slots=True)
class AliasRecord:
    name: str
    routes: list[dict[str, int]]
    shadow: list[int]
    revision: int
    latest_version: int
    updated_at: str

    def routing(self) -> dict[str, Any]:
        return {"routes": [dict(r) for r in self.routes], "shadow": list(self.shadow)}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    name: str
    revision: int
    at: str
    #: Routing before and after: {"routes": [...], "shadow": [...]}.
    from_routing: dict[str, Any]
    to_routing: dict[str, Any]
    reason: str
    #: The changing key's hash prefix (api.edge.caller().owner); None for bootstrap/CLI.
    caller: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every alias and version at one moment: what serving resolves names against."""

    aliases: dict[str, AliasRecord]
    versions: dict[tuple[str, int], VersionRecord]


class RegistryStore(Protocol):
    def create_version(
        self, name: str, spec: dict[str, Any], source: dict[str, Any], at: str
    ) -> tuple[VersionRecord, bool]:
        """Store the next version of `name` (numbers from 1, never reused); a new name also
        gets its alias, routed 100% to it. (The version, True when the alias is new.)"""

    def set_status(self, name: str, version: int, status: str) -> VersionRecord:
        """Mark a version `active` or `retired` (its only mutable field); NotFound if absent."""

    def get_alias(self, name: str) -> AliasRecord | None: ...

    def list_aliases(self) -> list[AliasRecord]: ...

    def get_version(self, name: str, version: int) -> VersionRecord | None: ...

    def list_versions(self, name: str) -> list[VersionRecord]: ...

    def set_routing(
        self,
        name: str,
        routing: dict[str, Any],
        expected_revision: int,
        reason: str,
        caller: str | None,
        at: str,
    ) -> AliasRecord:
        """Replace the alias's routing if its revision is still `expected_revision`, with its
        history entry in the same write. NotFound for an unknown alias; Conflict when stale."""

    def history(self, name: str) -> list[HistoryEntry]:
        """Routing changes in revision order."""

    def snapshot(self) -> Snapshot: ...


def _stale(name: str, expected: int) -> Conflict:
    return Conflict(
        f"Deployment {name!r} changed since revision {expected}; read it again and retry.",
        details=[{"field": "expected_revision", "reason": "stale"}],
    )


def _no_alias(name: str) -> NotFound:
    return NotFound(f"No deployment named {name!r}.")


def _new_alias(name: str, version: int, at: str) -> AliasRecord:
    return AliasRecord(name, [{"version": version, "weight": 100}], [], 1, version, at)


# --- item codecs ------------------------------------------------------------------------------


def _version_item(record: VersionRecord) -> dict[str, Any]:
    values = {
        "name": record.name,
        "sk": version_sk(record.version),
        "version": record.version,
        # JSON text, not a map: every float a version can hold round-trips exactly, none is
        # outside DynamoDB's number range, and the spec reads back as it was written.
        "spec": json.dumps(record.spec, sort_keys=True),
        "created_at": record.created_at,
        "source": json.dumps(record.source, sort_keys=True),
        "status": record.status,
    }
    return to_item(values)


def _alias_item(record: AliasRecord) -> dict[str, Any]:
    values = {
        "name": record.name,
        "sk": ALIAS_SK,
        "routes": record.routes,
        "shadow": record.shadow,
        "revision": record.revision,
        "latest_version": record.latest_version,
        "updated_at": record.updated_at,
    }
    return to_item(values)


def _history_item(entry: HistoryEntry) -> dict[str, Any]:
    values = {
        "name": entry.name,
        "sk": history_sk(entry.revision),
        "revision": entry.revision,
        "at": entry.at,
        "from": entry.from_routing,
        "to": entry.to_routing,
        "reason": entry.reason,
        "caller": entry.caller,
    }
    return to_item(values)


def _version(values: dict[str, Any]) -> VersionRecord:
    return VersionRecord(
        name=values["name"],
        version=int(values["version"]),
        spec=json.loads(values["spec"]),
        created_at=values["created_at"],
        source=json.loads(values.get("source") or "{}"),
        status=values.get("status", "active"),
    )


def _alias(values: dict[str, Any]) -> AliasRecord:
    return AliasRecord(
        name=values["name"],
        routes=[
            {"version": int(r["version"]), "weight": int(r["weight"])} for r in values["routes"]
        ],
        shadow=[int(v) for v in values.get("shadow") or []],
        revision=int(values["revision"]),
        latest_version=int(values["latest_version"]),
        updated_at=values["updated_at"],
    )


def _history(values: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        name=values["name"],
        revision=int(values["revision"]),
        at=values["at"],
        from_routing=values["from"],
        to_routing=values["to"],
        reason=values.get("reason", ""),
        caller=values.get("caller"),
    )


# --- DynamoDB ---------------------------------------------------------------------------------


class DynamoRegistryStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _key(self, name: str, sk: str) -> dict[str, Any]:
        return {"name": {"S": name}, "sk": {"S": sk}}

    def _get(self, name: str, sk: str) -> dict[str, Any] | None:
        reply = dynamo.call(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table_name, Key=self._key(name, sk), ConsistentRead=True
            ),
            UNAVAILABLE,
        )
        return from_item(reply["Item"]) if "Item" in reply else None

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """One transaction; False when a condition failed (the caller lost a race)."""
        try:
            dynamo.call(
                lambda: aws.client("dynamodb").transact_write_items(TransactItems=items),
                UNAVAILABLE,
            )
        except ClientError as exc:  # only a cancelled transaction gets here
            if dynamo.error_code(exc) == dynamo.TRANSACTION_CANCELLED:
                return False
            raise
        return True

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def create_version(
        self, name: str, spec: dict[str, Any], source: dict[str, Any], at: str
    ) -> tuple[VersionRecord, bool]:
        for _ in range(CREATE_ATTEMPTS):
            alias = self.get_alias(name)
            number = (alias.latest_version if alias else 0) + 1
            record = VersionRecord(name, number, spec, at, source)
            items = [self._put(_version_item(record))]
            if alias is None:
                items.append(self._put(_alias_item(_new_alias(name, number, at))))
            else:
                items.append(
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(name, ALIAS_SK),
                            "UpdateExpression": "SET latest_version = :next",
                            "ConditionExpression": "latest_version = :previous",
                            "ExpressionAttributeValues": {
                                ":next": to_attribute(number),
                                ":previous": to_attribute(alias.latest_version),
                            },
                        }
                    }
                )
            if self._transact(items):
                return record, alias is None
        raise ServiceUnavailable(
            f"Too many concurrent versions of {name!r}; try again.", retry_after=1
        )

    def set_status(self, name: str, version: int, status: str) -> VersionRecord:
        request = {
            "TableName": self.table_name,
            "Key": self._key(name, version_sk(version)),
            "UpdateExpression": "SET #status = :status",
            "ConditionExpression": "attribute_exists(sk)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": status}},
            "ReturnValues": "ALL_NEW",
        }
        reply = dynamo.update(request, UNAVAILABLE)
        if reply is None:
            raise NotFound(f"Deployment {name!r} has no version {version}.")
        return _version(from_item(reply["Attributes"]))

    def get_alias(self, name: str) -> AliasRecord | None:
        values = self._get(name, ALIAS_SK)
        return _alias(values) if values else None

    def list_aliases(self) -> list[AliasRecord]:
        return sorted(self.snapshot().aliases.values(), key=lambda a: a.name)

    def get_version(self, name: str, version: int) -> VersionRecord | None:
        values = self._get(name, version_sk(version))
        return _version(values) if values else None

    def list_versions(self, name: str) -> list[VersionRecord]:
        return [_version(v) for v in self._query(name, "v#")]

    def set_routing(
        self,
        name: str,
        routing: dict[str, Any],
        expected_revision: int,
        reason: str,
        caller: str | None,
        at: str,
    ) -> AliasRecord:
        alias = self.get_alias(name)
        if alias is None:
            raise _no_alias(name)
        if alias.revision != expected_revision:
            raise _stale(name, expected_revision)
        changed = replace(
            alias,
            routes=routing["routes"],
            shadow=routing.get("shadow", []),
            revision=expected_revision + 1,
            updated_at=at,
        )
        entry = HistoryEntry(
            name, changed.revision, at, alias.routing(), changed.routing(), reason, caller
        )
        update = {
            "TableName": self.table_name,
            "Key": self._key(name, ALIAS_SK),
            "UpdateExpression": "SET routes = :routes, shadow = :shadow, revision = :next, "
            "updated_at = :at",
            "ConditionExpression": "revision = :expected",
            "ExpressionAttributeValues": {
                ":routes": to_attribute(changed.routes),
                ":shadow": to_attribute(changed.shadow),
                ":next": to_attribute(changed.revision),
                ":at": to_attribute(at),
                ":expected": to_attribute(expected_revision),
            },
        }
        if not self._transact([{"Update": update}, self._put(_history_item(entry))]):
            raise _stale(name, expected_revision)
        return changed

    def history(self, name: str) -> list[HistoryEntry]:
        return [_history(v) for v in self._query(name, "h#")]

    def _query(self, name: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#name = :name AND begins_with(sk, :prefix)",
            "ExpressionAttributeNames": {"#name": "name"},
            "ExpressionAttributeValues": {":name": {"S": name}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = dynamo.call(lambda: aws.client("dynamodb").query(**kwargs), UNAVAILABLE)
            for item in page.get("Items", []):
                yield from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def snapshot(self) -> Snapshot:
        """One consistent scan of aliases and versions (history entries are filtered out)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "sk = :alias OR begins_with(sk, :version)",
            "ExpressionAttributeValues": {":alias": {"S": ALIAS_SK}, ":version": {"S": "v#"}},
            "ConsistentRead": True,
        }
        aliases: dict[str, AliasRecord] = {}
        versions: dict[tuple[str, int], VersionRecord] = {}
        while True:
            page = dynamo.call(lambda: aws.client("dynamodb").scan(**kwargs), UNAVAILABLE)
            for item in page.get("Items", []):
                values = from_item(item)
                if values["sk"] == ALIAS_SK:
                    aliases[values["name"]] = _alias(values)
                else:
                    record = _version(values)
                    versions[(record.name, record.version)] = record
            if "LastEvaluatedKey" not in page:
                return Snapshot(aliases, versions)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- memory -----------------------------------------------------------------------------------


class MemoryRegistryStore:
    """The same rules in memory (numbers never reused, revisions checked, history kept)."""

    def __init__(self) -> None:
        self._aliases: dict[str, AliasRecord] = {}
        self._versions: dict[tuple[str, int], VersionRecord] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._lock = threading.Lock()

    def create_version(
        self, name: str, spec: dict[str, Any], source: dict[str, Any], at: str
    ) -> tuple[VersionRecord, bool]:
        with self._lock:
            alias = self._aliases.get(name)
            number = (alias.latest_version if alias else 0) + 1
            record = VersionRecord(name, number, dict(spec), at, dict(source))
            self._versions[(name, number)] = record
            if alias is None:
                self._aliases[name] = _new_alias(name, number, at)
            else:
                self._aliases[name] = replace(alias, latest_version=number)
            return record, alias is None

    def set_status(self, name: str, version: int, status: str) -> VersionRecord:
        with self._lock:
            record = self._versions.get((name, version))
            if record is None:
                raise NotFound(f"Deployment {name!r} has no version {version}.")
            self._versions[(name, version)] = replace(record, status=status)
            return self._versions[(name, version)]

    def get_alias(self, name: str) -> AliasRecord | None:
        with self._lock:
            return self._aliases.get(name)

    def list_aliases(self) -> list[AliasRecord]:
        with self._lock:
            return sorted(self._aliases.values(), key=lambda a: a.name)

    def get_version(self, name: str, version: int) -> VersionRecord | None:
        with self._lock:
            return self._versions.get((name, version))

    def list_versions(self, name: str) -> list[VersionRecord]:
        with self._lock:
            found = [v for (n, _), v in self._versions.items() if n == name]
        return sorted(found, key=lambda v: v.version)

    def set_routing(
        self,
        name: str,
        routing: dict[str, Any],
        expected_revision: int,
        reason: str,
        caller: str | None,
        at: str,
    ) -> AliasRecord:
        with self._lock:
            alias = self._aliases.get(name)
            if alias is None:
                raise _no_alias(name)
            if alias.revision != expected_revision:
                raise _stale(name, expected_revision)
            changed = replace(
                alias,
                routes=[dict(r) for r in routing["routes"]],
                shadow=list(routing.get("shadow", [])),
                revision=expected_revision + 1,
                updated_at=at,
            )
            entry = HistoryEntry(
                name, changed.revision, at, alias.routing(), changed.routing(), reason, caller
            )
            self._aliases[name] = changed
            self._history.setdefault(name, []).append(entry)
            return changed

    def history(self, name: str) -> list[HistoryEntry]:
        with self._lock:
            return list(self._history.get(name, []))

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(dict(self._aliases), dict(self._versions))
