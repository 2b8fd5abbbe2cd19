"""The provisioned-models store, in memory and on DynamoDB: a name is created once (a second
create reads the first), status changes update it, a deleted name is free again."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from chalicelib.storage.provisioned import ProvisionedRecord

AT = "2026-12-02T00:00:00.000+00:00"


def record(name: str, **fields: Any) -> ProvisionedRecord:
    values: dict[str, Any] = {
        "name": name,
        "provider": "bedrock",
        "custom_model": "arn:aws:bedrock:us-east-1:000000000000:custom-model/a.b/abc",
        "kind": "provisioned",
        "model_units": 1,
        "commitment": "none",
        "status": "creating",
        "hourly_cost_usd": 40.0,
        "created_at": AT,
        "updated_at": AT,
        "client_token": uuid.uuid4().hex,
        "owner": "abcd1234",
    }
    return ProvisionedRecord(**{**values, **fields})


def test_a_name_is_created_once(provisioned: Any) -> None:
    name = f"pm-{uuid.uuid4().hex[:8]}"
    first = record(name)
    assert provisioned.create(first) == (True, first)
    assert provisioned.create(record(name, model_units=2)) == (False, first)
    assert provisioned.get(name) == first
    assert provisioned.get("pm-missing") is None


def test_status_changes_update_and_none_removes(provisioned: Any) -> None:
    name = f"pm-{uuid.uuid4().hex[:8]}"
    first = record(name, kind="on_demand", model_units=None)
    provisioned.create(first)
    arn = "arn:aws:bedrock:us-east-1:000000000000:custom-model-deployment/x"
    failed = provisioned.update(name, status="failed", arn=arn, failure_message="No capacity.")
    assert failed == replace(first, status="failed", arn=arn, failure_message="No capacity.")
    assert failed.on_demand and provisioned.get(name) == failed
    back = provisioned.update(name, status="in_service", failure_message=None, updated_at="z")
    assert back == replace(failed, status="in_service", failure_message=None, updated_at="z")
    assert provisioned.update("pm-missing", status="failed") is None


def test_a_deleted_name_is_free_again(provisioned: Any) -> None:
    name = f"pm-{uuid.uuid4().hex[:8]}"
    provisioned.create(record(name))
    provisioned.delete(name)
    provisioned.delete(name)  # absent: nothing happens
    assert provisioned.get(name) is None
    again = record(name, provider="openai", kind="openai", custom_model="ft:babbage-002:o::x")
    assert provisioned.create(again) == (True, again)
