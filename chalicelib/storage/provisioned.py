"""The provisioned-models store: one record per name (the key a client retries with).

A create is a conditional put (only if the name is free), so two concurrent creates of one
name never both start a provider call: the loser reads the winner's record (the service
answers it when identical, 409 otherwise). Status changes are updates of an existing record;
a deprovisioned model's record is deleted. `MemoryProvisionedStore` keeps the same rules.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from chalicelib import aws
from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_item
from chalicelib.storage.dynamo import AlreadyExists, Update

UNAVAILABLE = "Provisioned models cannot be read or stored right now; try again shortly."
#: Fields a status change may set (None removes one).
MUTABLE = ("status", "arn", "failure_message", "updated_at", "tuning_job")


@dataclass(frozen=True, slots=True)
class ProvisionedRecord:
    name: str
    provider: str  # "bedrock" | "openai"
    custom_model: str
    #: "provisioned" (Provisioned Throughput), "on_demand" (custom model deployment) or
    #: "openai" (a fine-tuned model: served by OpenAI, nothing to provision).
    kind: str
    commitment: str  # "none" | "OneMonth" | "SixMonths"
    status: str  # "creating" | "in_service" | "failed" | "deleting"
    created_at: str
    updated_at: str
    #: The provider's idempotency token for the create (so a retried create is one resource).
    client_token: str
    #: The key-hash prefix of the creating caller ("cli" from the command line).
    owner: str | None = None
    #: None: on demand or OpenAI (nothing provisioned).
    model_units: int | None = None
    #: None when no price is known for the base model.
    hourly_cost_usd: float | None = None
    #: Provisioned-model ARN, custom-model-deployment ARN, or the `ft:` model; None until the
    #: provider answered the create.
    arn: str | None = None
    #: The job that trained the custom model (Bedrock job ARN, OpenAI job id), once read.
    tuning_job: str | None = None
    failure_message: str | None = None

    @property
    def on_demand(self) -> bool:
        return self.kind == "on_demand"


class ProvisionedStore(Protocol):
    def create(self, record: ProvisionedRecord) -> tuple[bool, ProvisionedRecord]:
        """Store `record` if its name is free: (True, record); else (False, the stored one)."""

    def get(self, name: str) -> ProvisionedRecord | None: ...

    def update(self, name: str, **fields: Any) -> ProvisionedRecord | None:
        """Set `fields` (of MUTABLE) on the stored record; None when there is none."""

    def delete(self, name: str) -> None:
        """Forget `name` (nothing happens when it is absent)."""


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(MUTABLE))
    if unknown:
        raise ValueError(f"not mutable: {unknown}")


class DynamoProvisionedStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _key(self, name: str) -> dict[str, Any]:
        return {"name": {"S": name}}

    def create(self, record: ProvisionedRecord) -> tuple[bool, ProvisionedRecord]:
        try:
            dynamo.put_new(self.table_name, to_item(asdict(record)), "name", UNAVAILABLE)
            return True, record
        except AlreadyExists:
            stored = self.get(record.name)
            if stored is None:  # deleted in between: the name is free again
                return self.create(record)
            return False, stored

    def get(self, name: str) -> ProvisionedRecord | None:
        reply = dynamo.call(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table_name, Key=self._key(name), ConsistentRead=True
            ),
            UNAVAILABLE,
        )
        item = reply.get("Item")
        return None if item is None else ProvisionedRecord(**from_item(item))

    def update(self, name: str, **fields: Any) -> ProvisionedRecord | None:
        _check_fields(fields)
        update = Update().set(**fields)
        request = update.request(
            self.table_name, self._key(name), update.condition("attribute_exists(#name)")
        )
        request["ReturnValues"] = "ALL_NEW"
        reply = dynamo.update(request, UNAVAILABLE)
        return None if reply is None else ProvisionedRecord(**from_item(reply["Attributes"]))

    def delete(self, name: str) -> None:
        dynamo.call(
            lambda: aws.client("dynamodb").delete_item(
                TableName=self.table_name, Key=self._key(name)
            ),
            UNAVAILABLE,
        )


class MemoryProvisionedStore:
    """The same rules in memory."""

    def __init__(self) -> None:
        self._records: dict[str, ProvisionedRecord] = {}
        self._lock = threading.Lock()

    def create(self, record: ProvisionedRecord) -> tuple[bool, ProvisionedRecord]:
        with self._lock:
            stored = self._records.setdefault(record.name, record)
            return stored is record, stored

    def get(self, name: str) -> ProvisionedRecord | None:
        with self._lock:
            return self._records.get(name)

    def update(self, name: str, **fields: Any) -> ProvisionedRecord | None:
        _check_fields(fields)
        with self._lock:
            stored = self._records.get(name)
            if stored is None:
                return None
            self._records[name] = replace(stored, **fields)
            return self._records[name]

    def delete(self, name: str) -> None:
        with self._lock:
            self._records.pop(name, None)
