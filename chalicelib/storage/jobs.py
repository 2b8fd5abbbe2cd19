"""The job store: job, chunk and answer-cache records (in DynamoDB, the evaluations table,
keys `pk`, `sk`; `memory_jobs` holds the in-memory twin).

- `job#<id>` / `meta`: the JobRecord.
- `job#<id>` / `chunk#<n>`: a ChunkRecord, written only by `commit_chunk`, in the same
  transaction that adds its counts to the job; conditions make each (chunk, round) count once.
- `cache#<id>` / `<answer key>`: the job's answer cache (expires), so a chunk that is run again
  after a crash does not call the model for answers it already has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any, Literal, Protocol, TypeVar

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import ServiceUnavailable
from chalicelib.evaluation.cache import CachedAnswer
from chalicelib.jobs.models import ChunkRecord, JobRecord, Status
from chalicelib.observability import logger
from chalicelib.storage import dynamo
from chalicelib.storage.codec import from_item, to_attribute, to_item
from chalicelib.storage.dynamo import Update, error_code

META = "meta"
_BATCH_GET = 100  # BatchGetItem's limit
_BATCH_WRITE = 25  # BatchWriteItem's limit
#: How long the answer cache's writer waits for a fuller batch: the answers a kill can lose.
_GATHER_SECONDS = 0.05
#: What an outage of the evaluations table says (a 503 in the API, a retried message in jobs).
UNAVAILABLE = "Evaluations cannot be reached right now; try again shortly."
CommitOutcome = Literal["committed", "duplicate", "stale"]
T = TypeVar("T")


class ChunkAnswerCache(Protocol):
    """One job's answer cache as a chunk uses it (an `AnswerCache` the runner can share)."""

    def preload(self, keys: Iterable[str]) -> int: ...

    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, key: str, answer: CachedAnswer) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


class JobStore(Protocol):
    """Jobs and their committed chunks. Every change is conditional on the job's status and
    round, so a duplicated or late message changes nothing; `False`/`None` answers "the
    condition did not hold", an outage raises ServiceUnavailable."""

    def create(self, job: JobRecord) -> None:
        """Raises AlreadyExists when the id is taken."""

    def get(self, evaluation_id: str) -> JobRecord | None: ...

    def transition(
        self,
        evaluation_id: str,
        *,
        expect: Status | tuple[Status, ...],
        round: int,
        sets: Mapping[str, Any] | None = None,
        adds: Mapping[str, int] | None = None,
        removes: tuple[str, ...] = (),
    ) -> bool: ...

    def cancel(self, evaluation_id: str, now: str) -> JobRecord | None: ...

    def fail(self, evaluation_id: str, error: dict[str, Any], now: str) -> bool: ...

    def claim_finalizer(
        self, evaluation_id: str, *, status: Status, round: int, token: str, lease_seconds: int
    ) -> bool: ...

    def finish(
        self,
        evaluation_id: str,
        *,
        status: Status,
        new_status: Status,
        round: int,
        token: str,
        sets: Mapping[str, Any],
    ) -> bool: ...

    def release_finalizer(self, evaluation_id: str, token: str) -> None: ...

    def commit_chunk(self, evaluation_id: str, record: ChunkRecord) -> CommitOutcome: ...

    def get_chunk(self, evaluation_id: str, chunk: int) -> ChunkRecord | None: ...

    def get_with_chunk(
        self, evaluation_id: str, chunk: int
    ) -> tuple[JobRecord | None, ChunkRecord | None]:
        """The job and its chunk's record in one round trip (a chunk's first step); each read
        is consistent, the pair is not read at one instant (BatchGetItem)."""

    def chunks(self, evaluation_id: str) -> list[ChunkRecord]: ...

    def answer_cache(self, evaluation_id: str, ttl_seconds: int) -> ChunkAnswerCache: ...


def job_key(evaluation_id: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"job#{evaluation_id}"}, "sk": {"S": META}}


def chunk_sort_key(chunk: int) -> str:
    return f"chunk#{chunk:06d}"


def _dynamo(call: Callable[[], T]) -> T:
    return dynamo.call(call, UNAVAILABLE)


class DynamoJobStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    # --- jobs --------------------------------------------------------------------------------

    def create(self, job: JobRecord) -> None:
        item = {**job_key(job.evaluation_id), **to_item(asdict(job))}
        dynamo.put_new(self.table, item, "pk", UNAVAILABLE)

    def get(self, evaluation_id: str) -> JobRecord | None:
        reply = _dynamo(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table, Key=job_key(evaluation_id), ConsistentRead=True
            )
        )
        item = reply.get("Item")
        return JobRecord.from_stored(from_item(item)) if item else None

    def _update(
        self, evaluation_id: str, update: Update, condition: str, *, returning: bool = False
    ) -> JobRecord | None | bool:
        request = update.request(self.table, job_key(evaluation_id), condition)
        if returning:
            request["ReturnValues"] = "ALL_NEW"
        reply = dynamo.update(request, UNAVAILABLE)
        if reply is None:
            return None if returning else False
        if returning:
            return JobRecord.from_stored(from_item(reply["Attributes"]))
        return True

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
        """Apply the change only while the job has one of `expect` statuses in `round`."""
        statuses = (expect,) if isinstance(expect, str) else expect
        update = Update().set(**(sets or {})).add(**(adds or {})).remove(*removes)
        wanted = ", ".join(f":s{i}" for i in range(len(statuses)))
        condition = update.condition(
            f"#status IN ({wanted}) AND #round = :round",
            round=round,
            **{f"s{i}": s for i, s in enumerate(statuses)},
        )
        return bool(self._update(evaluation_id, update, condition))

    def cancel(self, evaluation_id: str, now: str) -> JobRecord | None:
        """Cancelled from queued or running; None when the job was already past that."""
        update = Update().set(status="cancelled", finished_at=now)
        condition = update.condition(
            "#status IN (:queued, :running)", queued="queued", running="running"
        )
        result = self._update(evaluation_id, update, condition, returning=True)
        return result if isinstance(result, JobRecord) else None

    def fail(self, evaluation_id: str, error: dict[str, Any], now: str) -> bool:
        """Give up on a job that is still active (a message that failed on every delivery)."""
        update = Update().set(status="failed", error=error, finished_at=now)
        condition = update.condition(
            "#status IN (:queued, :running)", queued="queued", running="running"
        )
        return bool(self._update(evaluation_id, update, condition))

    def claim_finalizer(
        self, evaluation_id: str, *, status: Status, round: int, token: str, lease_seconds: int
    ) -> bool:
        """Become the job's only finaliser for this round: no live claim and no outputs yet."""
        now = int(time.time())
        update = Update().set(finalizer=token, finalizer_until=now + lease_seconds)
        condition = update.condition(
            "#status = :status AND #round = :round AND #outputs_round < :round AND "
            "(attribute_not_exists(#finalizer_until) OR #finalizer_until < :now)",
            status=status,
            round=round,
            now=now,
        )
        return bool(self._update(evaluation_id, update, condition))

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
        """The finaliser's last write: outputs are in place, the job gets its final status."""
        update = Update().set(status=new_status, outputs_round=round, **sets)
        update.remove("finalizer", "finalizer_until")
        condition = update.condition(
            "#finalizer = :token AND #status = :status AND #round = :round",
            token=token,
            status=status,
            round=round,
        )
        return bool(self._update(evaluation_id, update, condition))

    def release_finalizer(self, evaluation_id: str, token: str) -> None:
        update = Update().remove("finalizer", "finalizer_until")
        self._update(evaluation_id, update, update.condition("#finalizer = :token", token=token))

    # --- chunks ------------------------------------------------------------------------------

    def commit_chunk(self, evaluation_id: str, record: ChunkRecord) -> CommitOutcome:
        """Store the chunk's record and add its counts to the job, atomically, once per round.

        `duplicate`: this chunk was already committed in this round (or a later one); `stale`:
        the job is no longer running this round (cancelled, or a retry started)."""
        chunk_item = {
            "pk": {"S": f"job#{evaluation_id}"},
            "sk": {"S": chunk_sort_key(record.chunk)},
            **to_item(asdict(record)),
        }
        job = Update().add(done=record.count, errors=record.errors, chunks_done=1)
        job_condition = job.condition(
            "#status = :running AND #round = :round", running="running", round=record.round
        )
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": chunk_item,
                    "ConditionExpression": "attribute_not_exists(sk) OR #round < :round",
                    "ExpressionAttributeNames": {"#round": "round"},
                    "ExpressionAttributeValues": {":round": to_attribute(record.round)},
                }
            },
            {"Update": job.request(self.table, job_key(evaluation_id), job_condition)},
        ]
        try:
            _dynamo(lambda: aws.client("dynamodb").transact_write_items(TransactItems=items))
        except ClientError as exc:
            if error_code(exc) != dynamo.TRANSACTION_CANCELLED:
                raise
            reasons = exc.response.get("CancellationReasons") or []
            codes = [str(r.get("Code", "None")) for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                return "duplicate"
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return "stale"
            raise ServiceUnavailable(
                f"the chunk commit was cancelled ({', '.join(codes) or 'no reason given'})"
            ) from exc
        return "committed"

    def answer_cache(self, evaluation_id: str, ttl_seconds: int) -> DynamoAnswerCache:
        return DynamoAnswerCache(self.table, evaluation_id, ttl_seconds)

    def get_chunk(self, evaluation_id: str, chunk: int) -> ChunkRecord | None:
        key = {"pk": {"S": f"job#{evaluation_id}"}, "sk": {"S": chunk_sort_key(chunk)}}
        reply = _dynamo(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table, Key=key, ConsistentRead=True
            )
        )
        item = reply.get("Item")
        return ChunkRecord.from_stored(from_item(item)) if item else None

    def get_with_chunk(
        self, evaluation_id: str, chunk: int
    ) -> tuple[JobRecord | None, ChunkRecord | None]:
        keys = [
            job_key(evaluation_id),
            {"pk": {"S": f"job#{evaluation_id}"}, "sk": {"S": chunk_sort_key(chunk)}},
        ]
        pending: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        found: dict[str, dict[str, Any]] = {}
        while pending:
            reply = _batch_get(pending)
            for item in reply.get("Responses", {}).get(self.table, []):
                found[item["sk"]["S"]] = from_item(item)
            pending = reply.get("UnprocessedKeys") or {}
        job, record = found.get(META), found.get(chunk_sort_key(chunk))
        return (
            JobRecord.from_stored(job) if job else None,
            ChunkRecord.from_stored(record) if record else None,
        )

    def chunks(self, evaluation_id: str) -> list[ChunkRecord]:
        """Every committed chunk, in chunk order."""
        records: list[ChunkRecord] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"job#{evaluation_id}"},
                ":prefix": {"S": "chunk#"},
            },
            "ConsistentRead": True,
        }
        while True:
            reply = _dynamo(lambda: aws.client("dynamodb").query(**request))
            records.extend(ChunkRecord.from_stored(from_item(i)) for i in reply.get("Items", []))
            if "LastEvaluatedKey" not in reply:
                return records
            request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


class DynamoAnswerCache:
    """The runner's AnswerCache for one job: answers survive a worker killed mid-chunk.

    `preload` fetches a chunk's keys in a few BatchGetItem calls, so lookups cost no round trip.
    Puts are written behind by one thread in BatchWriteItem calls of up to 25 answers, gathered
    for at most 50 ms: a kill loses only the answers of that last moment, and a chunk pays a
    few writes instead of one per answer. `close` flushes."""

    def __init__(self, table_name: str, evaluation_id: str, ttl_seconds: int) -> None:
        self.table = table_name
        self.pk = f"cache#{evaluation_id}"
        self.ttl_seconds = ttl_seconds
        self._known: dict[str, CachedAnswer | None] = {}
        self._pending: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._writer: threading.Thread | None = None
        self.writes = 0  # BatchWriteItem calls made

    def preload(self, keys: Iterable[str]) -> int:
        """Look `keys` up in bulk; returns how many were found."""
        wanted = sorted(set(keys))
        found: dict[str, CachedAnswer | None] = dict.fromkeys(wanted)
        for start in range(0, len(wanted), _BATCH_GET):
            batch = wanted[start : start + _BATCH_GET]
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": self.pk}, "sk": {"S": k}} for k in batch],
                    "ProjectionExpression": "sk, answer",
                }
            }
            while pending:
                reply = _batch_get(pending)
                for item in reply.get("Responses", {}).get(self.table, []):
                    found[item["sk"]["S"]] = CachedAnswer.from_json(item["answer"]["S"])
                pending = reply.get("UnprocessedKeys") or {}
        with self._cond:
            self._known.update(found)
        return sum(answer is not None for answer in found.values())

    def get(self, key: str) -> CachedAnswer | None:
        with self._cond:
            if key in self._known:
                return self._known[key]
        reply = _dynamo(
            lambda: aws.client("dynamodb").get_item(
                TableName=self.table,
                Key={"pk": {"S": self.pk}, "sk": {"S": key}},
                ProjectionExpression="answer",
            )
        )
        item = reply.get("Item")
        return CachedAnswer.from_json(item["answer"]["S"]) if item else None

    def put(self, key: str, answer: CachedAnswer) -> None:
        item = {
            "pk": {"S": self.pk},
            "sk": {"S": key},
            "answer": {"S": answer.to_json()},
            "expires_at": {"N": str(int(time.time()) + self.ttl_seconds)},
        }
        with self._cond:
            self._known[key] = answer
            self._pending.append(item)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_behind, name="answer-cache", daemon=True
                )
                self._writer.start()
            self._cond.notify_all()

    def close(self) -> None:
        """Write what is pending and stop the writer (before the handler returns: a frozen
        Lambda runs no threads)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join()

    def discard(self) -> None:
        """Delete this chunk's answers once the chunk is committed: they only serve a rerun
        of an uncommitted chunk, and the table stays the size of the work in flight."""
        self.close()
        with self._cond:
            stored = sorted(k for k, answer in self._known.items() if answer is not None)
        for start in range(0, len(stored), _BATCH_WRITE):
            self._write(
                [
                    {"DeleteRequest": {"Key": {"pk": {"S": self.pk}, "sk": {"S": key}}}}
                    for key in stored[start : start + _BATCH_WRITE]
                ]
            )

    def _write_behind(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                # Gather for a moment (unless a batch is full): fewer, fuller writes.
                deadline = time.monotonic() + _GATHER_SECONDS
                while len(self._pending) < _BATCH_WRITE and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if not self._pending:
                    return
                batch, self._pending = self._pending[:_BATCH_WRITE], self._pending[_BATCH_WRITE:]
            try:
                self._write([{"PutRequest": {"Item": item}} for item in batch])
            except Exception:  # a lost cache entry only costs a model call on a rerun
                logger.warning("answer cache write failed", exc_info=True)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        requests: dict[str, Any] = {self.table: batch}
        for attempt in range(5):
            reply = _batch_write(requests)
            self.writes += 1
            requests = reply.get("UnprocessedItems") or {}
            if not requests:
                return
            time.sleep(0.05 * 2**attempt)


def _batch_write(request: dict[str, Any]) -> Any:
    return _dynamo(lambda: aws.client("dynamodb").batch_write_item(RequestItems=request))


def _batch_get(request: dict[str, Any]) -> Any:
    return _dynamo(lambda: aws.client("dynamodb").batch_get_item(RequestItems=request))
