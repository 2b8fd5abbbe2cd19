"""The tuning store, in memory and on DynamoDB (moto server): keys per kind, status-conditional
updates, newest-first listing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.storage.dynamo import AlreadyExists


def record(created_at: str, **extra: Any) -> dict[str, Any]:
    return {"created_at": created_at, "status": "queued", "metrics": [], **extra}


def test_create_get_and_refuse_a_taken_key(tuning: Any) -> None:
    key = uuid.uuid4().hex
    tuning.create("job", key, record("2026-12-02T20:00:00", hyperparameters={"a": 1.5}))
    assert tuning.get("job", key) == {
        "created_at": "2026-12-02T20:00:00",
        "status": "queued",
        "metrics": [],
        "hyperparameters": {"a": 1.5},
    }
    assert tuning.get("provisioned", key) is None  # kinds do not share keys
    with pytest.raises(AlreadyExists):
        tuning.create("job", key, record("2026-12-02T20:00:01"))


def test_update_holds_only_in_the_expected_status(tuning: Any) -> None:
    key = uuid.uuid4().hex
    tuning.create("job", key, record("2026-12-02T20:00:00", failure_message="x"))
    moved = tuning.update(
        "job", key, {"status": "running", "failure_message": None}, expect=("queued",)
    )
    assert moved is not None and moved["status"] == "running" and "failure_message" not in moved
    assert tuning.update("job", key, {"status": "queued"}, expect=("queued",)) is None
    assert tuning.get("job", key)["status"] == "running"
    assert tuning.update("job", uuid.uuid4().hex, {"status": "x"}) is None  # absent: no upsert
    done = tuning.update("job", key, {"status": "succeeded", "metrics": [{"step": 0}]})
    assert done["metrics"] == [{"step": 0}]


def test_list_is_newest_first_per_kind_and_delete(tuning: Any) -> None:
    marker = uuid.uuid4().hex
    for i in range(3):
        tuning.create("provisioned", f"{marker}-{i}", record(f"2999-01-0{i + 1}", marker=marker))
    listed = [r for r in tuning.list("provisioned", limit=3) if r.get("marker") == marker]
    assert [r["created_at"] for r in listed] == ["2999-01-03", "2999-01-02", "2999-01-01"]
    assert all(r.get("marker") != marker for r in tuning.list("job"))
    tuning.delete("provisioned", f"{marker}-0")
    assert tuning.get("provisioned", f"{marker}-0") is None
