"""The feedback rules on the in-memory stores, without the local stack: one record per
invocation (a later post is a new revision that keeps `created_at`), the summary, and which
records become training data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import InvalidFeedbackToken, InvalidRequest
from chalicelib.feedback.service import (
    FeedbackRequest,
    export_training_data,
    submit_feedback,
    summarize,
)
from chalicelib.serving.feedback_tokens import issue_feedback_token
from chalicelib.storage.feedback import FeedbackRecord, MemoryFeedbackStore
from chalicelib.storage.invocations import InvocationRecord, MemoryInvocationStore

SECRET = b"s" * 32
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def request(invocation_id: str, model: str = "m", **fields: object) -> FeedbackRequest:
    token = issue_feedback_token(
        SECRET, invocation_id, model, now=NOW.timestamp(), ttl_seconds=3600
    )
    return FeedbackRequest.model_validate(
        {"invocation_id": invocation_id, "feedback_token": token, **fields}
    )


def test_one_record_per_invocation_each_post_a_revision() -> None:
    store, invocation = MemoryFeedbackStore(), str(uuid.uuid4())
    first = submit_feedback(request(invocation, rating=2, comment="meh"), store, SECRET, NOW)
    later = NOW + timedelta(minutes=5)
    second = submit_feedback(request(invocation, thumbs="up"), store, SECRET, later)
    assert (first.created, first.record.revision) == (True, 1)
    assert (second.created, second.record.revision) == (False, 2)
    assert second.record.created_at == first.record.created_at == "2026-01-01T00:00:00.000+00:00"
    assert second.record.updated_at == "2026-01-01T00:05:00.000+00:00"
    (stored,) = store.for_model("m")
    assert (stored.rating, stored.comment, stored.thumbs) == (None, None, "up")


def test_a_correction_is_marked_public() -> None:
    store = MemoryFeedbackStore()
    result = submit_feedback(
        request(str(uuid.uuid4()), rating=1, correction="negative"), store, SECRET, NOW
    )
    assert result.record.correction_source == "public"


def test_a_token_for_another_invocation_is_refused() -> None:
    store = MemoryFeedbackStore()
    stolen = request(str(uuid.uuid4()), rating=5).feedback_token
    forged = FeedbackRequest(invocation_id="other", feedback_token=stolen, rating=5)
    with pytest.raises(InvalidFeedbackToken):
        submit_feedback(forged, store, SECRET, NOW)
    assert list(store.for_model("m")) == []


def test_summary() -> None:
    store = MemoryFeedbackStore()
    for at, fields in [
        ("2026-01-01", {"rating": 5, "thumbs": "up"}),
        ("2026-01-02", {"rating": 2}),
        ("2026-01-03", {"thumbs": "down"}),
        ("2026-01-04", {"rating": 4, "thumbs": "up"}),
    ]:
        store.upsert(FeedbackRecord(str(uuid.uuid4()), "m", f"{at}T00:00:00.000+00:00", **fields))
    summary = summarize(store, "m", None, "2026-01-03T12:00:00.000+00:00")
    assert summary["count"] == 3
    assert summary["rating"] == {
        "mean": 3.5,
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
    }
    assert summary["thumbs"] == {"up": 1, "down": 1, "up_rate": 0.5}
    with pytest.raises(InvalidRequest):
        summarize(store, "m", "2026-01-02", "2026-01-01")


def test_export_keeps_well_rated_stored_answers_and_public_corrections_only_on_request() -> None:
    feedback, invocations = MemoryFeedbackStore(), MemoryInvocationStore()

    def rated(output: str, stored: bool = True, **fields: object) -> None:
        invocation = InvocationRecord(
            invocation_id=str(uuid.uuid4()),
            model="m",
            created_at="t",
            latency_ms=1.0,
            model_latency_ms=1.0,
            status="ok",
            input_sha256="0" * 64,
            input={"messages": [{"role": "user", "content": f"review {output}"}]}
            if stored
            else None,
            output=output if stored else None,
        )
        invocations.put(invocation)
        feedback.upsert(FeedbackRecord(invocation.invocation_id, "m", "t", **fields))

    rated("good", rating=5)
    rated("poor", rating=2)
    rated("unstored", stored=False, rating=5)
    rated("liked", thumbs="up")
    rated("wrong", rating=1, correction="right", correction_source="public")

    def answers(**options: object) -> list[str]:
        lines = export_training_data(feedback, invocations, "m", fmt="bedrock", **options)
        return [json.loads(line)["messages"][-1]["content"] for line in lines]

    assert answers(min_rating=None) == ["good", "liked"]
    assert answers(min_rating=2) == ["good", "poor"]
    assert answers(min_rating=None, public_corrections="include") == ["good", "liked", "right"]
    assert answers(min_rating=None, public_corrections="only") == ["right"]
