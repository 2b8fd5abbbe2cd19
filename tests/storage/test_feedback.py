"""The feedback store, in memory and on DynamoDB: one record per invocation, a later post
replaces the rated fields, keeps `created_at` and bumps `revision`; listed per model in time
order within a range."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from chalicelib.storage.feedback import FeedbackRecord


def post(invocation_id: str, model: str, at: str, **fields: Any) -> FeedbackRecord:
    return FeedbackRecord(invocation_id=invocation_id, model=model, updated_at=at, **fields)


def test_the_first_post_creates_a_later_one_replaces(feedback: Any) -> None:
    model, invocation = f"m-{uuid.uuid4().hex}", str(uuid.uuid4())
    first = post(invocation, model, "2026-01-01T00:00:00.000+00:00", rating=2, comment="meh")
    created, stored = feedback.upsert(first)
    assert created
    assert stored == replace(first, revision=1, created_at=first.updated_at)
    second = post(
        invocation,
        model,
        "2026-01-01T00:05:00.000+00:00",
        thumbs="up",
        correction="positive",
        correction_source="public",
    )
    created, stored = feedback.upsert(second)
    assert not created
    assert stored == replace(second, revision=2, created_at=first.updated_at)
    created, stored = feedback.upsert(replace(second, updated_at="2026-01-01T00:06:00.000+00:00"))
    assert (created, stored.revision, stored.created_at) == (False, 3, first.updated_at)
    # one record, the last post's fields only (rating and comment are gone)
    (listed,) = feedback.for_model(model)
    assert listed == stored
    assert (listed.rating, listed.comment, listed.thumbs) == (None, None, "up")


def test_listed_per_model_in_time_order_within_a_range(feedback: Any) -> None:
    model, other = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"
    times = [f"2026-01-0{day}T00:00:00.000+00:00" for day in (3, 1, 4, 2)]
    for at in times:
        feedback.upsert(post(str(uuid.uuid4()), model, at, rating=5))
    feedback.upsert(post(str(uuid.uuid4()), other, times[0], thumbs="down"))

    def listed(start: str | None = None, end: str | None = None) -> list[str]:
        return [r.updated_at[:10] for r in feedback.for_model(model, start, end)]

    assert listed() == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    assert listed(start=times[3]) == ["2026-01-02", "2026-01-03", "2026-01-04"]
    assert listed(end=times[3]) == ["2026-01-01", "2026-01-02"]
    assert listed(times[3], times[0]) == ["2026-01-02", "2026-01-03"]
    assert listed("2026-02-01T00:00:00.000+00:00") == []
    assert [r.thumbs for r in feedback.for_model(other)] == ["down"]


def test_a_record_moves_to_the_model_of_its_last_post(feedback: Any) -> None:
    old, new, invocation = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}", str(uuid.uuid4())
    feedback.upsert(post(invocation, old, "2026-01-01T00:00:00.000+00:00", rating=1))
    feedback.upsert(post(invocation, new, "2026-01-01T00:01:00.000+00:00", rating=4))
    assert list(feedback.for_model(old)) == []
    assert [r.rating for r in feedback.for_model(new)] == [4]
