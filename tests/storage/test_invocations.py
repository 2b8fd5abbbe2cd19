"""The invocation store, in memory and on DynamoDB: one record per id, read back as written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.errors import NotFound
from chalicelib.storage.dynamo import AlreadyExists
from chalicelib.storage.invocations import InvocationRecord


def record(**changes: Any) -> InvocationRecord:
    values: dict[str, Any] = {
        "invocation_id": str(uuid.uuid4()),
        "model": "m",
        "created_at": "2026-01-01T00:00:00.000+00:00",
        "latency_ms": 12.5,
        "model_latency_ms": 10.0,
        "status": "ok",
        "input_sha256": "ab" * 32,
        "prediction": "positive",
        "input_tokens": 7,
        "output_tokens": 1,
        "metadata": {"session": "s1"},
        "input": {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]},
        "output": "positive",
        "expires_at": 1_800_000_000,
    }
    return InvocationRecord(**{**values, **changes})


def test_a_record_reads_back_as_written(invocations: Any) -> None:
    full, sparse = record(), record(prediction=1.5, status="invalid", input=None, output=None)
    failed = record(prediction=None, error_code="model_timeout", input_tokens=None)
    for r in (full, sparse, failed):
        invocations.put(r)
        assert invocations.get(r.invocation_id) == r


def test_an_id_is_recorded_once(invocations: Any) -> None:
    first = record()
    invocations.put(first)
    with pytest.raises(AlreadyExists):
        invocations.put(record(invocation_id=first.invocation_id, model="other"))
    assert invocations.get(first.invocation_id) == first


def test_unknown_ids(invocations: Any) -> None:
    with pytest.raises(NotFound):
        invocations.get(str(uuid.uuid4()))
    stored = [record() for _ in range(3)]
    for r in stored:
        invocations.put(r)
    wanted = [stored[0].invocation_id, str(uuid.uuid4()), stored[2].invocation_id]
    found = invocations.get_many([*wanted, stored[0].invocation_id])
    assert found == {stored[0].invocation_id: stored[0], stored[2].invocation_id: stored[2]}
    assert invocations.get_many([]) == {}


def test_get_many_reads_past_one_batch(invocations: Any) -> None:
    stored = [record() for _ in range(130)]  # BatchGetItem takes 100 keys
    for r in stored:
        invocations.put(r)
    found = invocations.get_many([r.invocation_id for r in stored])
    assert found == {r.invocation_id: r for r in stored}
