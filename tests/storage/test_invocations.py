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


def test_versions_and_shadow_copies_read_back(invocations: Any) -> None:
    served = record(version=2)
    shadow = record(version=3, shadow_of=served.invocation_id, latency_ms=900.0)
    for r in (served, shadow):
        invocations.put(r)
        assert invocations.get(r.invocation_id) == r
    assert invocations.get_many([shadow.invocation_id])[shadow.invocation_id].shadow_of == (
        served.invocation_id
    )


def test_listed_per_model_in_time_order_within_a_range(invocations: Any) -> None:
    model, other = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"
    times = [f"2026-01-0{day}T00:00:00.000+00:00" for day in (3, 1, 4, 2)]
    for version, at in enumerate(times, start=1):
        invocations.put(record(model=model, created_at=at, version=version))
    invocations.put(record(model=other, created_at=times[0]))

    def listed(start: str | None = None, end: str | None = None) -> list[str]:
        return [r.created_at[:10] for r in invocations.for_model(model, start, end)]

    assert listed() == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    assert listed(start=times[3]) == ["2026-01-02", "2026-01-03", "2026-01-04"]
    assert listed(end=times[3]) == ["2026-01-01", "2026-01-02"]
    assert listed(times[3], times[0]) == ["2026-01-02", "2026-01-03"]
    assert listed("2026-02-01T00:00:00.000+00:00") == []
    assert [r.version for r in invocations.for_model(model)] == [2, 4, 1, 3]
    assert [r.model for r in invocations.for_model(other)] == [other]


def test_a_window_larger_than_a_page_is_read_whole(invocations: Any, backend: str) -> None:
    """DynamoDB answers a query in pages of at most 1 MB: 1.5 MB of records takes two."""
    from chalicelib import aws

    model = f"m-{uuid.uuid4().hex}"
    big = "x" * 60_000
    stored = [
        record(model=model, created_at=f"2026-01-01T00:00:{s:02d}.000+00:00", output=big)
        for s in range(25)
    ]
    for r in stored:
        invocations.put(r)
    if backend == "memory":
        assert list(invocations.for_model(model)) == stored
        return
    pages: list[int] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        pages.append(parsed["Count"])

    events = aws.client("dynamodb").meta.events
    events.register("after-call.dynamodb.Query", count)
    try:
        assert list(invocations.for_model(model)) == stored
    finally:
        events.unregister("after-call.dynamodb.Query", count)
    assert len(pages) > 1 and sum(pages) == 25
