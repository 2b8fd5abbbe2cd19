"""The feedback store: one record per invocation, whatever the concurrency.

In DynamoDB, a post is first a conditional `PutItem` (only if no item exists): exactly one post per
invocation can win it and be answered "created", and it is the common case's only round trip.
A later post finds the item and replaces it with one `UpdateItem` that sets the new fields,
removes the ones it leaves out and bumps `revision`, keeping `created_at`. `MemoryFeedbackStore`
keeps the same rules for fast tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Protocol

from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_item
from chalicelib.storage.dynamo import AlreadyExists, Update

MODEL_INDEX = "model-updated_at-index"
_REPLACEABLE = ("rating", "thumbs", "comment", "correction", "correction_source", "version")


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    invocation_id: str
    model: str
    updated_at: str
    rating: int | None = None
    thumbs: str | None = None
    comment: str | None = None
    correction: str | None = None
    # Where the correction came from: "public" (the token-authorised POST /v1/feedback, the
    # only route today). A record stored before sources were kept has None: public too.
    correction_source: str | None = None
    revision: int = 0
    created_at: str | None = None
    #: The alias's version that answered the rated invocation (None: before versions).
    version: int | None = None


#: What an outage of the feedback table says.
UNAVAILABLE = "Feedback cannot be stored right now; try again shortly."


class FeedbackStore(Protocol):
    def upsert(self, record: FeedbackRecord) -> tuple[bool, FeedbackRecord]:
        """Store `record` as the invocation's only feedback: (True when it is the first, the
        record as stored). The first gets `revision` 1 and `created_at` = its `updated_at`;
        a later one replaces the rated fields (those it leaves out are removed), keeps
        `created_at` and bumps `revision`."""

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[FeedbackRecord]:
        """Every record of `model` updated within [start, end] (ISO 8601 UTC strings), in
        `updated_at` order."""


def first_revision(record: FeedbackRecord) -> FeedbackRecord:
    return replace(record, revision=1, created_at=record.updated_at)


class DynamoFeedbackStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def upsert(self, record: FeedbackRecord) -> tuple[bool, FeedbackRecord]:
        first = first_revision(record)
        try:
            dynamo.put_new(self.table_name, to_item(asdict(first)), "invocation_id", UNAVAILABLE)
            return True, first
        except AlreadyExists:
            return False, self._replace(record)

    def _replace(self, record: FeedbackRecord) -> FeedbackRecord:
        values = asdict(record)
        update = Update().set(
            model=record.model,
            updated_at=record.updated_at,
            **{f: values[f] for f in _REPLACEABLE},  # None removes the field
        )
        update.set_if_absent(created_at=record.updated_at).increment(revision=1)
        request = update.request(self.table_name, {"invocation_id": {"S": record.invocation_id}})
        request["ReturnValues"] = "ALL_NEW"
        reply = dynamo.update(request, UNAVAILABLE)
        assert reply is not None  # no condition: it cannot fail one
        stored = from_item(reply["Attributes"])
        return replace(record, revision=int(stored["revision"]), created_at=stored["created_at"])

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[FeedbackRecord]:
        """Every record of `model` updated within [start, end] (ISO 8601 UTC strings)."""
        window = (self.table_name, MODEL_INDEX, ("model", model), "updated_at", start, end)
        for item in dynamo.query_window(*window, UNAVAILABLE):
            yield FeedbackRecord(**from_item(item))


class MemoryFeedbackStore:
    """The same rules in memory (one record per invocation, revisions, `created_at` kept)."""

    def __init__(self) -> None:
        self._records: dict[str, FeedbackRecord] = {}
        self._lock = threading.Lock()

    def upsert(self, record: FeedbackRecord) -> tuple[bool, FeedbackRecord]:
        with self._lock:
            earlier = self._records.get(record.invocation_id)
            if earlier is None:
                stored = first_revision(record)
            else:
                created_at = earlier.created_at or record.updated_at
                stored = replace(record, revision=earlier.revision + 1, created_at=created_at)
            self._records[record.invocation_id] = stored
            return earlier is None, stored

    def for_model(
        self, model: str, start: str | None = None, end: str | None = None
    ) -> Iterator[FeedbackRecord]:
        with self._lock:
            found = [
                r
                for r in self._records.values()
                if r.model == model
                and (start is None or r.updated_at >= start)
                and (end is None or r.updated_at <= end)
            ]
        yield from sorted(found, key=lambda r: r.updated_at)
