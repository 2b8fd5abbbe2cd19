"""A job's objects in the results bucket, under `evaluations/<id>/`:

- `dataset.jsonl`: an inline dataset as posted (then read like any S3 dataset);
- `input/<n>.jsonl`: chunk n's items, written by the planner (a snapshot: the source may change);
- `chunks/<n>/r<round>-<token>.json`: one attempt's item results and totals; the chunk record
  names the attempt that was committed, so a losing attempt's object is never read;
- `results.json`, `items.jsonl`, `lm_eval_results.json`, `report.html`: the finaliser's outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.errors import ServiceUnavailable
from chalicelib.evaluation.answers import ItemResult
from chalicelib.evaluation.datasets import Item
from chalicelib.evaluation.totals import EvaluationTotals
from chalicelib.observability import logger

OUTPUT_TYPES = {
    "results.json": "application/json",
    "lm_eval_results.json": "application/json",
    "items.jsonl": "application/x-ndjson",
    "report.html": "text/html; charset=utf-8",
}


#: Every object of every job lives under this prefix (the bucket's retention rule expires it).
JOBS_PREFIX = "evaluations/"


def retention_rule(days: int) -> dict[str, Any]:
    """The results bucket's lifecycle rule for job objects (infra/resources.json has the same)."""
    return {
        "ID": "expire-evaluations",
        "Status": "Enabled",
        "Filter": {"Prefix": JOBS_PREFIX},
        "Expiration": {"Days": days},
    }


class MissingObject(LookupError):
    pass


class JobObjects:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @staticmethod
    def prefix(evaluation_id: str) -> str:
        return f"{JOBS_PREFIX}{evaluation_id}/"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def dataset_key(self, evaluation_id: str) -> str:
        return f"{self.prefix(evaluation_id)}dataset.jsonl"

    def input_key(self, evaluation_id: str, chunk: int) -> str:
        return f"{self.prefix(evaluation_id)}input/{chunk:06d}.jsonl"

    def chunk_key(self, evaluation_id: str, chunk: int, round: int, token: str) -> str:
        return f"{self.prefix(evaluation_id)}chunks/{chunk:06d}/r{round}-{token}.json"

    def output_key(self, evaluation_id: str, name: str) -> str:
        return f"{self.prefix(evaluation_id)}{name}"

    # --- raw I/O -----------------------------------------------------------------------------

    def put(self, key: str, body: bytes | IO[bytes], content_type: str) -> None:
        try:
            aws.client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable(
                "Evaluation results cannot be stored right now.", retry_after=5
            ) from exc

    def discard(self, key: str) -> None:
        """Best-effort delete of an object nothing refers to (a losing chunk attempt's)."""
        try:
            aws.client("s3").delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError):
            logger.warning("could not delete an unreferenced object", extra={"key": key})

    def get(self, key: str) -> bytes:
        try:
            body: Any = aws.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"]
            with body:
                return bytes(body.read())
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
                "NoSuchKey",
                "404",
            ):
                raise MissingObject(key) from exc
            raise ServiceUnavailable(
                "Evaluation results cannot be read right now.", retry_after=5
            ) from exc

    # --- typed objects -----------------------------------------------------------------------

    def put_dataset(self, evaluation_id: str, records: Iterable[Any]) -> str:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        key = self.dataset_key(evaluation_id)
        self.put(key, lines.encode(), "application/x-ndjson")
        return self.uri(key)

    def put_input(self, evaluation_id: str, chunk: int, items: Sequence[Item]) -> None:
        lines = "".join(json.dumps(i.to_record(), ensure_ascii=False) + "\n" for i in items)
        self.put(self.input_key(evaluation_id, chunk), lines.encode(), "application/x-ndjson")

    def get_input(self, evaluation_id: str, chunk: int) -> list[Item]:
        raw = self.get(self.input_key(evaluation_id, chunk)).decode()
        return [Item.from_record(json.loads(line)) for line in raw.splitlines() if line]

    def put_chunk(self, key: str, results: Sequence[ItemResult], totals: EvaluationTotals) -> None:
        document = {
            "totals": totals.to_state(),
            "results": [r.to_record() for r in results],
        }
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        self.put(key, body, "application/json")

    def get_chunk(self, key: str) -> tuple[list[ItemResult], EvaluationTotals]:
        document = json.loads(self.get(key))
        results = [ItemResult.from_record(r) for r in document["results"]]
        return results, EvaluationTotals.from_state(document["totals"])

    def put_output(self, evaluation_id: str, name: str, path: Path) -> None:
        with open(path, "rb") as handle:
            self.put(self.output_key(evaluation_id, name), handle, OUTPUT_TYPES[name])

    def get_output(self, evaluation_id: str, name: str) -> bytes:
        return self.get(self.output_key(evaluation_id, name))
