"""The human review store: one rating per (evaluation, item, model or pair, reviewer), whatever
the concurrency (the feedback store's rules: a conditional `PutItem` only the first post can
win, then an `UpdateItem` that replaces the rating and bumps `revision`).

Reviews live in the evaluations table beside the job they rate (`pk = review#<id>`, `sk =
<index>#<subject>#<reviewer>`): one Query lists a job's reviews, and the table's grants, backups
and retention already cover them. `MemoryReviewStore` keeps the same rules for fast tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from chalicelib import aws
from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_item
from chalicelib.storage.dynamo import AlreadyExists, Update

UNAVAILABLE = "Reviews cannot be stored or read right now; try again shortly."
_REPLACEABLE = ("rating", "verdict", "shown_first", "reviewer_name", "judge")


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """One reviewer's call on one item. Rubric: `models` is the one model rated, `rating` 1-5.
    Pairwise: `models` is the pair in the evaluation's model order, `verdict` "first",
    "second" or "tie" in that order, `shown_first` the model the page showed as A. `judge`: the
    judge's call on the same item and subject, in the same terms (None: it made none)."""

    evaluation_id: str
    index: int
    models: tuple[str, ...]
    reviewer: str
    updated_at: str
    rating: int | None = None
    verdict: str | None = None
    shown_first: str | None = None
    reviewer_name: str | None = None
    judge: int | str | None = None
    revision: int = 0
    created_at: str | None = None

    @property
    def subject(self) -> str:
        return "|".join(self.models)

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["models"] = list(self.models)
        return {k: v for k, v in values.items() if v is not None}


class ReviewStore(Protocol):
    def upsert(self, record: ReviewRecord) -> tuple[bool, ReviewRecord]:
        """Store `record` as its reviewer's only call on that item and subject: (True when it
        is the first, the record as stored). The first gets `revision` 1 and `created_at`; a
        later one replaces the rating fields, keeps `created_at` and bumps `revision`."""

    def for_evaluation(self, evaluation_id: str) -> Iterator[ReviewRecord]:
        """Every review of the evaluation, by item index, subject, reviewer."""


def first_revision(record: ReviewRecord) -> ReviewRecord:
    return replace(record, revision=1, created_at=record.updated_at)


def partition(evaluation_id: str) -> str:
    return f"review#{evaluation_id}"


def sort_key(record: ReviewRecord) -> str:
    return f"{record.index:09d}#{record.subject}#{record.reviewer}"


def _from_stored(values: dict[str, Any]) -> ReviewRecord:
    known = ReviewRecord.__dataclass_fields__
    fields = {k: v for k, v in values.items() if k in known}
    fields["models"] = tuple(fields["models"])
    return ReviewRecord(**fields)


class DynamoReviewStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _key(self, record: ReviewRecord) -> dict[str, dict[str, str]]:
        return {"pk": {"S": partition(record.evaluation_id)}, "sk": {"S": sort_key(record)}}

    def upsert(self, record: ReviewRecord) -> tuple[bool, ReviewRecord]:
        first = first_revision(record)
        item = {**self._key(record), **to_item(first.to_json())}
        try:
            dynamo.put_new(self.table_name, item, "pk", UNAVAILABLE)
            return True, first
        except AlreadyExists:
            return False, self._replace(record)

    def _replace(self, record: ReviewRecord) -> ReviewRecord:
        values = asdict(record)
        update = Update().set(
            updated_at=record.updated_at,
            **{f: values[f] for f in _REPLACEABLE},  # None removes the field
        )
        update.set_if_absent(created_at=record.updated_at).increment(revision=1)
        request = update.request(self.table_name, self._key(record))
        request["ReturnValues"] = "ALL_NEW"
        reply = dynamo.update(request, UNAVAILABLE)
        assert reply is not None  # no condition: it cannot fail one
        stored = from_item(reply["Attributes"])
        return replace(record, revision=int(stored["revision"]), created_at=stored["created_at"])

    def for_evaluation(self, evaluation_id: str) -> Iterator[ReviewRecord]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition(evaluation_id)}},
        }
        while True:
            page = dynamo.call(lambda: aws.client("dynamodb").query(**request), UNAVAILABLE)
            for item in page.get("Items", []):
                yield _from_stored(from_item(item))
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class MemoryReviewStore:
    """The same rules in memory (one record per key, revisions, `created_at` kept)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], ReviewRecord] = {}
        self._lock = threading.Lock()

    def upsert(self, record: ReviewRecord) -> tuple[bool, ReviewRecord]:
        key = (record.evaluation_id, sort_key(record))
        with self._lock:
            earlier = self._records.get(key)
            if earlier is None:
                stored = first_revision(record)
            else:
                created_at = earlier.created_at or record.updated_at
                stored = replace(record, revision=earlier.revision + 1, created_at=created_at)
            self._records[key] = stored
            return earlier is None, stored

    def for_evaluation(self, evaluation_id: str) -> Iterator[ReviewRecord]:
        with self._lock:
            found = [(k[1], r) for k, r in self._records.items() if k[0] == evaluation_id]
        yield from (r for _, r in sorted(found, key=lambda pair: pair[0]))
