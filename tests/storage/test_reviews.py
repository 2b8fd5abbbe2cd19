"""The human review store, in memory and on DynamoDB: one record per (evaluation, item, model or
pair, reviewer); a re-rating replaces the rating, keeps `created_at` and bumps `revision`;
concurrent first ratings create exactly one record."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from chalicelib.storage.reviews import ReviewRecord


def rating(evaluation_id: str, index: int, model: str, reviewer: str, value: int) -> ReviewRecord:
    at = f"2026-01-01T00:00:{value:02d}.000+00:00"
    return ReviewRecord(evaluation_id, index, (model,), reviewer, at, rating=value)


def test_a_rating_is_created_then_replaced(reviews: Any) -> None:
    evaluation = uuid.uuid4().hex
    first = rating(evaluation, 3, "m", "abc", 2)
    created, stored = reviews.upsert(replace(first, reviewer_name="Ann"))
    assert created
    assert stored == replace(first, reviewer_name="Ann", revision=1, created_at=first.updated_at)
    second = rating(evaluation, 3, "m", "abc", 5)
    created, stored = reviews.upsert(second)
    assert not created
    assert stored == replace(second, revision=2, created_at=first.updated_at)
    (listed,) = reviews.for_evaluation(evaluation)
    assert listed == stored
    assert listed.reviewer_name is None  # the later rating's fields only


def test_one_record_per_item_subject_and_reviewer(reviews: Any) -> None:
    evaluation, other = uuid.uuid4().hex, uuid.uuid4().hex
    reviews.upsert(rating(evaluation, 1, "m", "abc", 4))
    reviews.upsert(rating(evaluation, 0, "m", "abc", 3))
    reviews.upsert(rating(evaluation, 0, "n", "abc", 2))
    reviews.upsert(rating(evaluation, 0, "m", "def", 1))
    pair = ReviewRecord(evaluation, 0, ("m", "n"), "abc", "t", verdict="tie", shown_first="n")
    reviews.upsert(pair)
    reviews.upsert(rating(other, 0, "m", "abc", 5))
    listed = [
        (r.index, r.models, r.reviewer, r.rating, r.verdict)
        for r in reviews.for_evaluation(evaluation)
    ]
    assert listed == [
        (0, ("m",), "abc", 3, None),
        (0, ("m",), "def", 1, None),
        (0, ("m", "n"), "abc", None, "tie"),
        (0, ("n",), "abc", 2, None),
        (1, ("m",), "abc", 4, None),
    ]
    assert [r.rating for r in reviews.for_evaluation(other)] == [5]
    assert list(reviews.for_evaluation(uuid.uuid4().hex)) == []


def test_concurrent_first_ratings_create_exactly_one(reviews: Any) -> None:
    evaluation = uuid.uuid4().hex
    attempts = [rating(evaluation, 7, "m", "abc", value) for value in range(1, 6)] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(reviews.upsert, attempts))
    assert sum(created for created, _ in outcomes) == 1
    assert sorted(stored.revision for _, stored in outcomes) == list(range(1, 21))
    (listed,) = reviews.for_evaluation(evaluation)
    assert listed.revision == 20
