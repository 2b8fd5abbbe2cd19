"""The job store in memory, with DynamoDB's semantics: the same conditions on status and round,
`commit_chunk` as one all-or-nothing step, absent attributes for None, values round-tripped
through the attribute codec. For fast tests of the job steps; `tests/storage` runs the same
cases against both stores."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from chalicelib.evaluation.cache import CachedAnswer, MemoryCache
from chalicelib.jobs.models import ChunkRecord, JobRecord, Status
from chalicelib.storage.codec import from_item, to_item
from chalicelib.storage.dynamo import AlreadyExists
from chalicelib.storage.jobs import CommitOutcome

Item = dict[str, Any]


def _stored(values: Mapping[str, Any]) -> Item:
    """`values` as DynamoDB would hand them back (None dropped, tuples as lists, numbers)."""
    return from_item(to_item(dict(values)))


class MemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Item] = {}
        self._chunks: dict[str, dict[int, Item]] = {}
        self._answers: dict[str, dict[str, CachedAnswer]] = {}
        self._lock = threading.Lock()

    # --- jobs --------------------------------------------------------------------------------

    def create(self, job: JobRecord) -> None:
        with self._lock:
            if job.evaluation_id in self._jobs:
                raise AlreadyExists(f"job {job.evaluation_id} exists")
            self._jobs[job.evaluation_id] = _stored(asdict(job))

    def get(self, evaluation_id: str) -> JobRecord | None:
        with self._lock:
            item = self._jobs.get(evaluation_id)
            return JobRecord.from_stored(copy.deepcopy(item)) if item else None

    def _change(
        self,
        evaluation_id: str,
        holds: Any,
        sets: Mapping[str, Any] | None = None,
        adds: Mapping[str, int] | None = None,
        removes: Iterable[str] = (),
    ) -> JobRecord | None:
        """Apply the change when `holds(item)`; the job as changed, or None."""
        with self._lock:
            item = self._jobs.get(evaluation_id)
            if item is None or not holds(item):
                return None
            for attribute, value in (sets or {}).items():
                if value is None:
                    item.pop(attribute, None)
                else:
                    item[attribute] = _stored({"v": value})["v"]
            for attribute, step in (adds or {}).items():
                item[attribute] = item.get(attribute, 0) + step
            for attribute in removes:
                item.pop(attribute, None)
            return JobRecord.from_stored(copy.deepcopy(item))

    def transition(
        self,
        evaluation_id: str,
        *,
        expect: Status | tuple[Status, ...],
        round: int,
        sets: Mapping[str, Any] | None = None,
        adds: Mapping[str, int] | None = None,
        removes: tuple[str, ...] = (),
    ) -> bool:
        statuses = (expect,) if isinstance(expect, str) else expect

        def holds(item: Item) -> bool:
            return item.get("status") in statuses and item.get("round") == round

        return self._change(evaluation_id, holds, sets, adds, removes) is not None

    def cancel(self, evaluation_id: str, now: str) -> JobRecord | None:
        sets = {"status": "cancelled", "finished_at": now}
        return self._change(evaluation_id, _active, sets)

    def fail(self, evaluation_id: str, error: dict[str, Any], now: str) -> bool:
        sets = {"status": "failed", "error": error, "finished_at": now}
        return self._change(evaluation_id, _active, sets) is not None

    def claim_finalizer(
        self, evaluation_id: str, *, status: Status, round: int, token: str, lease_seconds: int
    ) -> bool:
        now = int(time.time())

        def holds(item: Item) -> bool:
            # DynamoDB's `<` on a missing attribute is false, hence `in item`.
            return (
                item.get("status") == status
                and item.get("round") == round
                and "outputs_round" in item
                and item["outputs_round"] < round
                and ("finalizer_until" not in item or item["finalizer_until"] < now)
            )

        sets = {"finalizer": token, "finalizer_until": now + lease_seconds}
        return self._change(evaluation_id, holds, sets) is not None

    def finish(
        self,
        evaluation_id: str,
        *,
        status: Status,
        new_status: Status,
        round: int,
        token: str,
        sets: Mapping[str, Any],
    ) -> bool:
        def holds(item: Item) -> bool:
            return (
                item.get("finalizer") == token
                and item.get("status") == status
                and item.get("round") == round
            )

        changes = {"status": new_status, "outputs_round": round, **sets}
        removes = ("finalizer", "finalizer_until")
        return self._change(evaluation_id, holds, changes, removes=removes) is not None

    def release_finalizer(self, evaluation_id: str, token: str) -> None:
        def holds(item: Item) -> bool:
            return item.get("finalizer") == token

        self._change(evaluation_id, holds, removes=("finalizer", "finalizer_until"))

    # --- chunks ------------------------------------------------------------------------------

    def commit_chunk(self, evaluation_id: str, record: ChunkRecord) -> CommitOutcome:
        """As DynamoDB's transaction: both conditions are checked before anything is written,
        and the chunk's condition is reported first when both fail."""
        with self._lock:
            chunks = self._chunks.setdefault(evaluation_id, {})
            earlier = chunks.get(record.chunk)
            if earlier is not None and not earlier["round"] < record.round:
                return "duplicate"
            job = self._jobs.get(evaluation_id)
            if job is None or job.get("status") != "running" or job.get("round") != record.round:
                return "stale"
            chunks[record.chunk] = _stored(asdict(record))
            for attribute, step in (
                ("done", record.count),
                ("errors", record.errors),
                ("chunks_done", 1),
            ):
                job[attribute] = job.get(attribute, 0) + step
            return "committed"

    def get_chunk(self, evaluation_id: str, chunk: int) -> ChunkRecord | None:
        with self._lock:
            item = self._chunks.get(evaluation_id, {}).get(chunk)
            return ChunkRecord.from_stored(copy.deepcopy(item)) if item else None

    def get_with_chunk(
        self, evaluation_id: str, chunk: int
    ) -> tuple[JobRecord | None, ChunkRecord | None]:
        # Two reads, as BatchGetItem's are: each consistent, not both at one instant.
        return self.get(evaluation_id), self.get_chunk(evaluation_id, chunk)

    def chunks(self, evaluation_id: str) -> list[ChunkRecord]:
        with self._lock:
            stored = self._chunks.get(evaluation_id, {})
            return [ChunkRecord.from_stored(copy.deepcopy(stored[n])) for n in sorted(stored)]

    def answer_cache(self, evaluation_id: str, ttl_seconds: int) -> MemoryAnswerCache:
        with self._lock:
            answers = self._answers.setdefault(evaluation_id, {})
        return MemoryAnswerCache(answers, self._lock)


def _active(item: Item) -> bool:
    return item.get("status") in ("queued", "running")


class MemoryAnswerCache(MemoryCache):
    """One job's answers, shared by every cache of that job (as the table's items are), so a
    rerun finds what an interrupted run stored. No expiry: tests outlive no TTL."""

    def __init__(self, answers: dict[str, CachedAnswer], lock: threading.Lock) -> None:
        super().__init__(answers, lock)
        self._mine: set[str] = set()

    def preload(self, keys: Iterable[str]) -> int:
        with self._lock:
            found = {k for k in set(keys) if k in self._answers}
            self._mine |= found
            return len(found)

    def put(self, key: str, answer: CachedAnswer) -> None:
        super().put(key, answer)
        with self._lock:
            self._mine.add(key)

    def close(self) -> None:
        """Nothing is written behind."""

    def discard(self) -> None:
        with self._lock:
            for key in self._mine:
                self._answers.pop(key, None)
            self._mine.clear()
